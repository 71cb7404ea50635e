package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/ent/orders/outboxevent"
	"github.com/heraldhq/herald/internal/outbox"
)

// A relay that dies after the broker accepted a batch but before the rows
// were marked must leave them pending, so that the next relay publishes
// them again: at least once, never zero times.
func TestRelayCrashBetweenPublishAndMarkRepublishes(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			conn, client := open(t, d)
			insert(t, client, 0, 3)
			pub := newRecorder(0)

			// First relay: its context ends the moment the broker has
			// the batch, as a SIGKILL-ed or cancelled process would.
			ctx, cancel := context.WithCancel(context.Background())
			var once sync.Once
			pub.after = func() { once.Do(cancel) }
			first, err := outbox.New(outbox.Config{DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub, NoListen: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := first.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := len(pub.messages()); got != 3 {
				t.Fatalf("first relay published %d messages, want 3", got)
			}
			if n := pending(t, client); n != 3 {
				t.Fatalf("%d rows pending after the crash, want all 3 (the mark must not survive it)", n)
			}

			// A new relay (the restarted process) publishes them again.
			pub.mu.Lock()
			pub.after = nil
			pub.mu.Unlock()
			second, err := outbox.New(outbox.Config{DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub, NoListen: true})
			if err != nil {
				t.Fatal(err)
			}
			// On PostgreSQL the first relay's transaction ends with its
			// cancelled context, but its advisory lock goes only once that
			// backend has noticed the closed connection, which can be after
			// Run returned: until then RelayOnce finds the lock taken and
			// returns 0 without error. Ask again until it does something.
			var (
				n    int
				rerr error
			)
			waitFor(t, "the second relay to publish", func() bool {
				n, rerr = second.RelayOnce(context.Background())
				return n != 0 || rerr != nil
			})
			if n != 3 || rerr != nil {
				t.Fatalf("second relay: RelayOnce = %d, %v; want 3", n, rerr)
			}
			got := pub.messages()
			if len(got) != 6 {
				t.Fatalf("published %d messages in all, want 6 (3 twice)", len(got))
			}
			checkInOrder(t, got[3:], 3) // the same rows, same ids, same order
			if n := pending(t, client); n != 0 {
				t.Fatalf("%d rows still pending", n)
			}
		})
	}
}

// On PostgreSQL the database connection itself may die between publish and
// mark (a failover, a killed backend): the relay's transaction is lost, the
// rows stay pending and the same relay publishes them again once it
// reconnects.
func TestRelayRepublishesWhenItsConnectionDies(t *testing.T) {
	conn, client := open(t, databases[1])
	insert(t, client, 0, 2)
	pub := newRecorder(0)
	killed := make(chan error, 1)
	var once sync.Once
	pub.after = func() {
		once.Do(func() {
			// Terminate every other backend of this database: the
			// relay's transaction among them.
			var n int
			err := conn.SQL.QueryRowContext(context.Background(), `SELECT count(pg_terminate_backend(pid))
				FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
			if err == nil && n == 0 {
				err = errors.New("no backend terminated")
			}
			killed <- err
		})
	}
	relay, err := outbox.New(outbox.Config{
		DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub, NoListen: true,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	waitFor(t, "rows published", func() bool {
		// Pooled connections were terminated too: an error here is one of
		// them being found dead, so ask again.
		n, err := client.OutboxEvent.Query().Where(outboxevent.StatusEQ(outboxevent.StatusPending)).Count(context.Background())
		return err == nil && n == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-killed; err != nil {
		t.Fatalf("terminate backends: %v", err)
	}
	got := pub.messages()
	if len(got) != 4 {
		t.Fatalf("published %d messages, want 4 (both rows before and after the lost mark)", len(got))
	}
	checkInOrder(t, got[:2], 2)
	checkInOrder(t, got[2:], 2)
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With the fallback poll an hour away, only the migration's NOTIFY trigger
// can wake the relay for a row committed through another connection.
func TestRelayWakesOnPostgresNotify(t *testing.T) {
	conn, client := open(t, databases[1])
	pub := newRecorder(0)
	logs := &syncBuffer{}
	relay, err := outbox.New(outbox.Config{
		DB: conn.SQL, Dialect: conn.Dialect, Publisher: pub, PollInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, "the relay to listen", func() bool { return strings.Contains(logs.String(), "outbox listening") })
	// Let the wake-up that follows LISTEN be consumed: one relay pass over
	// an empty table, after which only a notification can wake it.
	waitFor(t, "the relay's first pass", func() bool {
		n, err := client.OutboxEvent.Query().Count(context.Background())
		return err == nil && n == 0 && pub.callCount() == 0
	})
	for i := range 3 {
		insert(t, client, i, 1)
		waitFor(t, "the notified row to be published", func() bool { return len(pub.messages()) == i+1 })
	}
	checkInOrder(t, pub.messages(), 3)
	// The publisher sees a message before the relay commits its mark, so
	// the last row may still be pending for a moment.
	waitFor(t, "all three rows marked published", func() bool {
		n, err := client.OutboxEvent.Query().Where(outboxevent.StatusEQ(outboxevent.StatusPublished)).Count(context.Background())
		return err == nil && n == 3
	})
	if got := len(pub.messages()); got != 3 {
		t.Fatalf("published %d messages, want 3", got)
	}
}
