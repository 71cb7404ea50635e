package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/migrations"
	"github.com/heraldhq/herald/ent/orders/outboxevent"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/outbox"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder is an in-memory stream.Publisher: these tests check the relay's
// own logic (order, retries, marking), not a broker. It fails the next
// failures calls, then accepts.
type recorder struct {
	mu       sync.Mutex
	failures int
	calls    int
	got      []stream.Message
	notify   chan struct{}
	// jitter delays each publish a little, so that concurrent relays
	// would interleave if nothing serialised them.
	jitter bool
	// after, when set, runs after a successful publish was recorded and
	// before the relay marks the rows: where a crash hurts most.
	after func()
}

func newRecorder(failures int) *recorder {
	return &recorder{failures: failures, notify: make(chan struct{}, 1)}
}

func (p *recorder) Publish(_ context.Context, msgs ...stream.Message) error {
	if p.jitter {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	}
	p.mu.Lock()
	defer func() {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}()
	p.calls++
	if p.failures > 0 {
		p.failures--
		p.mu.Unlock()
		return errors.New("broker down")
	}
	p.got = append(p.got, msgs...)
	after := p.after
	p.mu.Unlock()
	if after != nil {
		after()
	}
	return nil
}

func (p *recorder) Close() error { return nil }

func (p *recorder) messages() []stream.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]stream.Message(nil), p.got...)
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type database struct {
	name, driver string
	dsn          func(t *testing.T) string
}

var databases = []database{
	{"sqlite", db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "outbox.db") }},
	{"postgres", db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
}

func open(t *testing.T, d database) (*db.DB, *entorders.Client) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Open(ctx, d.driver, d.dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// The orders service's real schema, from its versioned migrations
	// (on PostgreSQL with the NOTIFY trigger the listener relies on).
	fsys, err := migrations.Set.FS(conn.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, conn.SQL, conn.Dialect, fsys); err != nil {
		t.Fatal(err)
	}
	return conn, entorders.NewClient(entorders.Driver(conn.Driver))
}

// insert writes n pending rows whose created_at increases, keyed k0..k2.
func insert(t *testing.T, client *entorders.Client, first, n int) {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := first; i < first+n; i++ {
		err := client.OutboxEvent.Create().
			SetID(fmt.Sprintf("evt-%05d", i)).
			SetTopic("T").
			SetKey(fmt.Sprintf("k%d", i%3)).
			SetHeaders([]stream.Header{{Key: "ce_id", Value: fmt.Sprintf("evt-%05d", i)}}).
			SetPayload([]byte(fmt.Sprintf(`{"n":%d}`, i))).
			SetCreatedAt(base.Add(time.Duration(i) * time.Millisecond)).
			Exec(context.Background())
		if err != nil {
			t.Fatal(err)
		}
	}
}

func checkInOrder(t *testing.T, got []stream.Message, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("published %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		want := fmt.Sprintf("evt-%05d", i)
		if m.Header("ce_id") != want || string(m.Value) != fmt.Sprintf(`{"n":%d}`, i) ||
			m.Key != fmt.Sprintf("k%d", i%3) || m.Topic != "T" {
			t.Fatalf("message %d = %+v, want ce_id %s", i, m, want)
		}
	}
}

func pending(t *testing.T, client *entorders.Client) int {
	t.Helper()
	n, err := client.OutboxEvent.Query().Where(outboxevent.StatusEQ(outboxevent.StatusPending)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRelayPublishesInOrderAndRecoversFromFailures(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			conn, client := open(t, d)
			insert(t, client, 0, 7)
			pub := newRecorder(3) // the broker refuses the first three batches
			relay, err := outbox.New(outbox.Config{
				DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub,
				BatchSize: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
				PollInterval: 10 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- relay.Run(ctx) }()
			waitFor(t, "7 messages", func() bool { return len(pub.messages()) >= 7 })

			// More rows while it runs, announced through Notify.
			insert(t, client, 7, 5)
			relay.Notify()
			waitFor(t, "12 messages", func() bool { return pending(t, client) == 0 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkInOrder(t, pub.messages(), 12)

			rows, err := client.OutboxEvent.Query().Order(entorders.Asc(outboxevent.FieldID)).All(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Status != outboxevent.StatusPublished || r.PublishedAt == nil {
					t.Fatalf("row %s: status %s published_at %v", r.ID, r.Status, r.PublishedAt)
				}
			}
			// The first batch failed three times before it went out.
			if rows[0].Attempts != 4 || rows[0].LastError != "broker down" {
				t.Fatalf("first row: attempts %d last_error %q, want 4 and the broker's error", rows[0].Attempts, rows[0].LastError)
			}
			if rows[11].Attempts != 1 {
				t.Fatalf("last row: attempts %d, want 1", rows[11].Attempts)
			}
		})
	}
}

func TestRelayOnceEmptyAndCleanup(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			conn, client := open(t, d)
			ctx := context.Background()
			pub := newRecorder(0)
			relay, err := outbox.New(outbox.Config{
				DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub, Retention: time.Hour,
			})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := relay.RelayOnce(ctx); n != 0 || err != nil {
				t.Fatalf("RelayOnce on an empty table = %d, %v", n, err)
			}
			insert(t, client, 0, 3)
			if n, err := relay.RelayOnce(ctx); n != 3 || err != nil {
				t.Fatalf("RelayOnce = %d, %v; want 3", n, err)
			}
			// Published just now: kept.
			if err := relay.Cleanup(ctx); err != nil {
				t.Fatal(err)
			}
			if n := client.OutboxEvent.Query().CountX(ctx); n != 3 {
				t.Fatalf("cleanup removed recent rows: %d left", n)
			}
			// Published two hours ago: removed; a pending row is never removed.
			client.OutboxEvent.Update().Where(outboxevent.IDIn("evt-00000", "evt-00001")).
				SetPublishedAt(time.Now().UTC().Add(-2 * time.Hour)).ExecX(ctx)
			insert(t, client, 3, 1) // created long ago, still pending
			if err := relay.Cleanup(ctx); err != nil {
				t.Fatal(err)
			}
			left := client.OutboxEvent.Query().Order(entorders.Asc(outboxevent.FieldID)).IDsX(ctx)
			if fmt.Sprint(left) != "[evt-00002 evt-00003]" {
				t.Fatalf("after cleanup: %v, want [evt-00002 evt-00003]", left)
			}
		})
	}
}

// Two relays on one PostgreSQL table: the advisory lock lets one publish at
// a time, so every row goes out once and in order although both run.
func TestTwoRelaysOnPostgresPublishOnceInOrder(t *testing.T) {
	d := databases[1]
	conn, client := open(t, d)
	const n = 300
	insert(t, client, 0, n)
	pub := newRecorder(0)
	pub.jitter = true
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		relay, err := outbox.New(outbox.Config{
			DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub,
			BatchSize: 7, PollInterval: time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = relay.Run(ctx) })
	}
	waitFor(t, "all rows published", func() bool { return pending(t, client) == 0 })
	cancel()
	wg.Wait()
	checkInOrder(t, pub.messages(), n)
}

func TestNewRejectsBadConfig(t *testing.T) {
	pub := newRecorder(0)
	conn, _ := open(t, databases[0])
	cases := []outbox.Config{
		{Dialect: "sqlite", Publisher: pub},
		{DB: conn.SQL, Dialect: "sqlite"},
		{DB: conn.SQL, Dialect: "mysql", Publisher: pub},
		{DB: conn.SQL, Dialect: "sqlite", Publisher: pub, Table: `x"; drop table y; --`},
	}
	for i, c := range cases {
		if _, err := outbox.New(c); err == nil {
			t.Errorf("case %d: New accepted %+v", i, c)
		}
	}
}

func (p *recorder) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}
