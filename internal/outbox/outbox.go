// Package outbox publishes a transactional outbox table to the stream.
//
// A service writes its change and an outbox row in one database transaction;
// the Relay then publishes pending rows oldest first through a
// stream.Publisher and marks them published. Delivery is at least once: a
// relay that dies between the broker's acknowledgement and the mark publishes
// the row again on restart, never zero times, so consumers dedupe by ce_id.
// A failed publish is retried with a growing backoff; a row is never dropped,
// and nothing behind a failing row is published before it (order holds).
//
// The relay reads any table with these columns (ent field names in brackets
// are what ent/orders' OutboxEvent declares):
//
//	id           text     the CloudEvent id
//	topic        text
//	key          text     the stream key (ordering key)
//	headers      json     []stream.Header
//	payload      bytes    the message value
//	status       text     "pending" or "published"
//	created_at   time     publication order (ties broken by id)
//	published_at time     nullable
//	attempts     int      publish attempts so far
//	last_error   text     the last publish error, for operators
//
// On PostgreSQL each batch is claimed in a transaction whose claiming
// statement first takes pg_try_advisory_xact_lock(LockKey) — so only one
// relay publishes at a time and batches cannot overtake one another — and
// then selects rows with FOR UPDATE SKIP LOCKED; the rows are marked
// published with one UPDATE. The transaction-scoped lock is released by
// PostgreSQL when the transaction or its connection ends, so a crashed relay
// never leaves a stale lock behind. On SQLite (one connection, one process)
// a single relay goroutine is the only publisher and no transaction is held
// while the broker is called.
//
// Wake-ups: Notify pokes the relay after a commit in this process. On
// PostgreSQL the relay also LISTENs on NotifyChannel (default
// "herald_outbox") on one dedicated connection, so rows committed by any
// process wake it at once; the table needs a trigger that NOTIFYs that
// channel on insert (ent/orders/migrations has one). While that LISTEN
// holds, Notify does nothing: each commit would otherwise wake the relay
// twice, and the second round would find nothing to publish. Notifications sent
// while the listener is disconnected are lost, so a fallback poll
// (PollInterval) stays beside it, and the listener wakes the relay each time
// it (re)subscribes.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/pause"
	"github.com/heraldhq/herald/internal/stream"
)

// Row statuses.
const (
	StatusPending   = "pending"
	StatusPublished = "published"
)

// Config says which table to relay and how.
type Config struct {
	DB *sql.DB
	// Dialect is "postgres" or "sqlite"/"sqlite3" (db.DB.Dialect works).
	Dialect   string
	Table     string // default "outbox_events"
	Publisher stream.Publisher
	Logger    *slog.Logger

	PollInterval   time.Duration // fallback poll; default 500ms
	BatchSize      int           // rows per publish; default 100
	Retention      time.Duration // published rows older than this are deleted; default 10m
	PublishTimeout time.Duration // per batch; default 30s
	MinBackoff     time.Duration // after a failure; default 100ms
	MaxBackoff     time.Duration // cap of the doubling backoff; default 30s
	// LockKey is the PostgreSQL advisory lock key; default derived from Table.
	LockKey int64
	// NotifyChannel is the PostgreSQL channel the relay LISTENs on; default
	// "herald_outbox". Set NoListen to rely on Notify and the poll alone.
	NotifyChannel string
	NoListen      bool
}

// DefaultNotifyChannel is what the orders migration's trigger NOTIFYs.
const DefaultNotifyChannel = "herald_outbox"

// Relay publishes one outbox table. Create it with New; run it with Run.
type Relay struct {
	cfg      Config
	postgres bool
	wake     chan struct{}
	q        queries
	// listening is set while the listener holds its LISTEN: the table's
	// trigger then wakes the relay for every commit, Notify's included.
	listening atomic.Bool
}

type queries struct {
	claim, fail, done, cleanup string
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New checks cfg and fills in defaults.
func New(cfg Config) (*Relay, error) {
	if cfg.DB == nil || cfg.Publisher == nil {
		return nil, errors.New("outbox: DB and Publisher are required")
	}
	if cfg.Table == "" {
		cfg.Table = "outbox_events"
	}
	if !tableName.MatchString(cfg.Table) {
		return nil, fmt.Errorf("outbox: table name %q is not a plain identifier", cfg.Table)
	}
	cfg.Logger = logging.OrDiscard(cfg.Logger)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, 500*time.Millisecond)
	def(&cfg.Retention, 10*time.Minute)
	def(&cfg.PublishTimeout, 30*time.Second)
	def(&cfg.MinBackoff, 100*time.Millisecond)
	def(&cfg.MaxBackoff, 30*time.Second)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.NotifyChannel == "" {
		cfg.NotifyChannel = DefaultNotifyChannel
	}
	if !tableName.MatchString(cfg.NotifyChannel) {
		return nil, fmt.Errorf("outbox: notify channel %q is not a plain identifier", cfg.NotifyChannel)
	}
	if cfg.LockKey == 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte("herald-outbox:" + cfg.Table))
		cfg.LockKey = int64(h.Sum64())
	}
	r := &Relay{cfg: cfg, wake: make(chan struct{}, 1)}
	switch cfg.Dialect {
	case "postgres":
		r.postgres = true
	case "sqlite", "sqlite3":
	default:
		return nil, fmt.Errorf("outbox: unknown dialect %q", cfg.Dialect)
	}
	r.q = r.buildQueries()
	return r, nil
}

func (r *Relay) buildQueries() queries {
	t := `"` + r.cfg.Table + `"`
	p := func(n int) string { // placeholder n (1-based)
		if r.postgres {
			return "$" + strconv.Itoa(n)
		}
		return "?"
	}
	claim := `SELECT "id", "topic", "key", "headers", "payload" FROM ` + t +
		` WHERE "status" = '` + StatusPending + `' ORDER BY "created_at", "id" LIMIT ` + p(1)
	if r.postgres {
		// The advisory lock is taken in the same round trip, before any row
		// is read: the uncorrelated subquery runs once, first, and a lock
		// held by another relay makes the batch empty.
		claim = `WITH "relay_lock" AS (SELECT pg_try_advisory_xact_lock($2) AS "held") ` +
			strings.Replace(claim, ` WHERE `, ` WHERE (SELECT "held" FROM "relay_lock") AND `, 1) +
			` FOR UPDATE SKIP LOCKED`
	}
	return queries{
		claim: claim,
		// The id list is appended per batch (see inList).
		fail: `UPDATE ` + t + ` SET "attempts" = "attempts" + 1, "last_error" = ` + p(1) + ` WHERE "id" IN `,
		done: `UPDATE ` + t + ` SET "status" = '` + StatusPublished + `', "published_at" = ` + p(1) +
			`, "attempts" = "attempts" + 1 WHERE "id" IN `,
		cleanup: `DELETE FROM ` + t + ` WHERE "status" = '` + StatusPublished + `' AND "published_at" < ` + p(1),
	}
}

// inList returns "(p2, p3, ...)" for n ids after the first parameter.
func (r *Relay) inList(n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if r.postgres {
			b.WriteString("$" + strconv.Itoa(i+2))
		} else {
			b.WriteByte('?')
		}
	}
	b.WriteByte(')')
	return b.String()
}

// Notify wakes the relay; call it after committing outbox rows. It never
// blocks. While the relay LISTENs on PostgreSQL it does nothing: the
// trigger's notification of the same commit wakes the relay anyway, and a
// second wake-up would cost a round that finds the rows already published.
func (r *Relay) Notify() {
	if !r.listening.Load() {
		r.poke()
	}
}

func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// newBackoff is the doubling wait between failed attempts, from MinBackoff
// up to MaxBackoff, without jitter.
func (r *Relay) newBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: r.cfg.MinBackoff, Multiplier: 2, MaxInterval: r.cfg.MaxBackoff}
}

// Run publishes until ctx ends. It returns nil on cancellation; every other
// problem (database, broker) is logged and retried with backoff.
func (r *Relay) Run(ctx context.Context) error {
	bo := r.newBackoff()
	cleanupEvery := min(r.cfg.Retention, time.Minute)
	nextCleanup := time.Now()
	if r.postgres && !r.cfg.NoListen {
		listenCtx, stopListen := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); r.listen(listenCtx) }()
		defer func() { stopListen(); <-done }()
	}
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		n, err := r.RelayOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			wait := bo.NextBackOff()
			r.cfg.Logger.WarnContext(ctx, "outbox relay failed; retrying", "table", r.cfg.Table, "err", err, "backoff", wait)
			if !pause.For(ctx, wait) {
				return nil
			}
			continue
		}
		bo.Reset()
		if n >= r.cfg.BatchSize {
			continue // more may be waiting
		}
		if now := time.Now(); !now.Before(nextCleanup) {
			if err := r.Cleanup(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logger.WarnContext(ctx, "outbox cleanup failed", "table", r.cfg.Table, "err", err)
			}
			nextCleanup = now.Add(cleanupEvery)
		}
		poll.Reset(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-poll.C:
		}
	}
}

// listen holds one connection LISTENing on NotifyChannel and turns each
// notification into Notify, reconnecting with backoff until ctx ends.
func (r *Relay) listen(ctx context.Context) {
	bo := r.newBackoff()
	for {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := bo.NextBackOff()
		r.cfg.Logger.WarnContext(ctx, "outbox listener lost; the poll covers until it is back",
			"channel", r.cfg.NotifyChannel, "err", err, "backoff", wait)
		if !pause.For(ctx, wait) {
			return
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context) error {
	conn, err := r.cfg.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("outbox: listener connection: %w", err)
	}
	// A connection interrupted by ctx is closed by pgx; database/sql then
	// discards it instead of returning it to the pool.
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("outbox: LISTEN needs the pgx driver, have %T", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, `LISTEN "`+r.cfg.NotifyChannel+`"`); err != nil {
			return fmt.Errorf("outbox: LISTEN: %w", err)
		}
		defer func() {
			if ctx.Err() == nil && !pc.IsClosed() {
				_, _ = pc.Exec(context.WithoutCancel(ctx), `UNLISTEN "`+r.cfg.NotifyChannel+`"`)
			}
		}()
		r.cfg.Logger.InfoContext(ctx, "outbox listening for notifications", "channel", r.cfg.NotifyChannel)
		r.listening.Store(true)
		defer r.listening.Store(false)
		// Rows committed while no one listened would otherwise wait for
		// the poll.
		r.poke()
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				return fmt.Errorf("outbox: wait for notification: %w", err)
			}
			r.poke()
		}
	})
}

// row is one claimed outbox row.
type row struct {
	id  string
	msg stream.Message
}

// RelayOnce publishes at most one batch of pending rows, oldest first, and
// returns how many it published. On PostgreSQL it returns 0 without error
// when another relay holds the lock.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	if !r.postgres {
		// SQLite: one relay goroutine; never hold the single connection
		// while the broker is called.
		rows, err := r.claim(ctx, r.cfg.DB)
		if err != nil || len(rows) == 0 {
			return 0, err
		}
		return r.publishAndMark(ctx, r.cfg.DB, rows)
	}
	tx, err := r.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("outbox: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// No rows: nothing pending, or another relay is publishing (the poll
	// retries).
	rows, err := r.claim(ctx, tx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	n, err := r.publishAndMark(ctx, tx, rows)
	if cerr := tx.Commit(); cerr != nil && err == nil {
		// The broker has the messages but the mark is lost: they will be
		// published again (at least once).
		return 0, fmt.Errorf("outbox: commit: %w", cerr)
	}
	return n, err
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func (r *Relay) claim(ctx context.Context, q querier) ([]row, error) {
	args := []any{r.cfg.BatchSize}
	if r.postgres {
		args = append(args, r.cfg.LockKey)
	}
	rs, err := q.QueryContext(ctx, r.q.claim, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var (
			rw      row
			headers []byte
		)
		if err := rs.Scan(&rw.id, &rw.msg.Topic, &rw.msg.Key, &headers, &rw.msg.Value); err != nil {
			return nil, fmt.Errorf("outbox: scan: %w", err)
		}
		if len(headers) > 0 {
			if err := json.Unmarshal(headers, &rw.msg.Headers); err != nil {
				return nil, fmt.Errorf("outbox: row %s: headers: %w", rw.id, err)
			}
		}
		out = append(out, rw)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	return out, nil
}

func (r *Relay) publishAndMark(ctx context.Context, q querier, rows []row) (int, error) {
	msgs := make([]stream.Message, len(rows))
	args := make([]any, 1, len(rows)+1)
	for i, rw := range rows {
		msgs[i] = rw.msg
		args = append(args, rw.id)
	}
	pubCtx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	perr := r.cfg.Publisher.Publish(pubCtx, msgs...)
	cancel()
	if perr != nil {
		args[0] = truncate(perr.Error(), 1000)
		if _, err := q.ExecContext(ctx, r.q.fail+r.inList(len(rows)), args...); err != nil {
			r.cfg.Logger.WarnContext(ctx, "outbox: record failed attempt", "err", err)
		}
		return 0, fmt.Errorf("outbox: publish %d messages from %s: %w", len(rows), r.cfg.Table, perr)
	}
	args[0] = time.Now().UTC()
	if _, err := q.ExecContext(ctx, r.q.done+r.inList(len(rows)), args...); err != nil {
		return 0, fmt.Errorf("outbox: mark published: %w", err)
	}
	r.cfg.Logger.DebugContext(ctx, "outbox published", "table", r.cfg.Table, "count", len(rows))
	return len(rows), nil
}

// Cleanup deletes rows published longer than Retention ago.
func (r *Relay) Cleanup(ctx context.Context) error {
	_, err := r.cfg.DB.ExecContext(ctx, r.q.cleanup, time.Now().UTC().Add(-r.cfg.Retention))
	if err != nil {
		return fmt.Errorf("outbox: cleanup: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
