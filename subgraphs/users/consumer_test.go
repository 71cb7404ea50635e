package users_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	heraldnats "github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/subgraphs/users"
)

func migratedClient(t *testing.T, driver, dsn string) *entusers.Client {
	t.Helper()
	d, err := db.Open(t.Context(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	fsys, _ := migrations.Set.FS(d.Dialect)
	if err := migrate.Up(t.Context(), d.SQL, d.Dialect, fsys); err != nil {
		t.Fatal(err)
	}
	return entusers.NewClient(entusers.Driver(d.Driver))
}

func kafkaBroker(t *testing.T) stream.Broker {
	b, err := kafka.New(t.Context(), kafka.Config{Brokers: testenv.Kafka(t).Brokers,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func orderCreated(t *testing.T, topic, eventID, userID string, at time.Time) stream.Message {
	t.Helper()
	m, err := events.Encode(topic, userID, events.Envelope{
		ID: eventID, Source: "test", Type: events.TypeOrderCreated, Time: at,
	}, events.OrderCreated{
		OrderID: "order-" + eventID, UserID: userID, Currency: "EUR", TotalMinor: 100, CreatedAt: at,
		Items: []events.OrderItem{{SKU: "S", Name: "N", Quantity: 1, UnitPriceMinor: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOrderCounterRedelivery runs the counter on a real broker and makes
// every first delivery fail after its transaction committed, as a consumer
// crashing before its acknowledgement would: the broker redelivers each
// event, and each is still counted once. The batch cases do the same with
// HandleBatch: a batch (the malformed event in its middle) commits, fails
// before its offsets move, and comes again.
func TestOrderCounterRedelivery(t *testing.T) {
	tests := []struct {
		name  string
		batch bool
		// dupPublish publishes e1 twice, as an outbox relay that crashed
		// after publishing may (JetStream drops such a duplicate itself by
		// Nats-Msg-Id, so only Kafka delivers it).
		dupPublish bool
		broker     func(t *testing.T) stream.Broker
		driver     string
		dsn        func(t *testing.T) string
	}{
		{"nats+sqlite", false, false, func(t *testing.T) stream.Broker {
			b, err := heraldnats.New(t.Context(), heraldnats.Config{URL: testenv.NATS(t)}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "users.db") }},
		{"kafka+postgres", false, true, kafkaBroker, db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
		{"kafka+postgres batches", true, true, kafkaBroker, db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
		{"kafka+sqlite batches", true, true, kafkaBroker, db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "users.db") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			b := tt.broker(t)
			defer b.Close()
			client := migratedClient(t, tt.driver, tt.dsn(t))
			u, err := client.User.Create().SetName("Buyer").SetEmail(fmt.Sprintf("buyer.%d@example.com", time.Now().UnixNano())).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			topic := fmt.Sprintf("users-test-%d.OrderCreated", time.Now().UnixNano())
			base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			bad := stream.Message{Topic: topic, Key: u.ID, Value: []byte("not an event")}
			msgs := []stream.Message{
				orderCreated(t, topic, "e1", u.ID, base),
				orderCreated(t, topic, "e2", u.ID, base.Add(2*time.Hour)), // the latest order
				bad,
				orderCreated(t, topic, "e3", u.ID, base.Add(time.Hour)), // arrives last, is older
				orderCreated(t, topic, "e4", "no-such-user", base),
			}
			if tt.dupPublish {
				msgs = append(msgs, msgs[0])
			}
			if err := streamtest.Publisher(t, ctx, b, topic).Publish(ctx, msgs...); err != nil {
				t.Fatal(err)
			}

			counter := &users.OrderCounter{Client: client, Logger: testLogger(t), LockRows: tt.driver == db.Postgres}
			var mu sync.Mutex
			deliveries := map[string]int{}
			acked, largest := 0, 0
			done := make(chan struct{})
			// handled counts the deliveries of batch, which the counter
			// committed: the first delivery of any of them fails.
			handled := func(batch []stream.Message) error {
				mu.Lock()
				defer mu.Unlock()
				largest = max(largest, len(batch))
				first := false
				for _, m := range batch {
					id := m.Header(events.HeaderID) + string(m.Value[:min(5, len(m.Value))])
					deliveries[id]++
					first = first || deliveries[id] == 1
				}
				if first {
					return errors.New("simulated crash after commit, before the acknowledgement")
				}
				if acked += len(batch); acked == len(msgs) {
					close(done)
				}
				return nil
			}
			handler := func(ctx context.Context, batch []stream.Message) (int, error) {
				if n, err := counter.HandleBatch(ctx, batch); err != nil {
					return n, err
				}
				if err := handled(batch); err != nil {
					return 0, err
				}
				return len(batch), nil
			}
			if !tt.batch {
				handler = stream.OneAtATime(func(ctx context.Context, m stream.Message) error {
					if err := counter.Handle(ctx, m); err != nil {
						return err
					}
					return handled([]stream.Message{m})
				})
			}
			// A group of its own: a Kafka group spans topics, so the
			// service's default group name would be shared with any other
			// package consuming with it on the one test broker (rebalances,
			// redeliveries this test would count).
			group := fmt.Sprintf("%s-test-%d", users.DefaultGroup, time.Now().UnixNano())
			c := streamtest.StartConsuming(t, b, topic, group, func(ctx context.Context, sub stream.Subscriber) error {
				return sub.ConsumeBatches(ctx, handler)
			})
			select {
			case <-done:
			case <-c.Returned():
				t.Fatalf("Consume returned early: %v", c.Err())
			case <-ctx.Done():
				mu.Lock()
				t.Fatalf("timed out; deliveries so far %v", deliveries)
			}
			c.Stop(t)

			got, err := client.User.Get(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OrderCount != 3 {
				t.Fatalf("orderCount %d after every event was delivered twice, want 3", got.OrderCount)
			}
			if got.LastOrderAt == nil || !got.LastOrderAt.Equal(base.Add(2*time.Hour)) {
				t.Fatalf("lastOrderAt %v, want the latest order's time %v", got.LastOrderAt, base.Add(2*time.Hour))
			}
			if n, err := client.ProcessedEvent.Query().Count(ctx); err != nil || n != 4 {
				t.Fatalf("processed events %d (%v), want e1..e4 once each (the malformed one is not recorded)", n, err)
			}
			if tt.batch && largest < 2 {
				t.Errorf("largest batch %d; the events were all published before consuming, want several in one", largest)
			}
		})
	}
}

// TestRunCountsOrders wires the counter through Run, as cmd/users does,
// and reads the counters back through GraphQL.
func TestRunCountsOrders(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := heraldnats.New(ctx, heraldnats.Config{URL: testenv.NATS(t)}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() }) // after the service stops
	topic := fmt.Sprintf("users-run-%d.OrderCreated", time.Now().UnixNano())
	cfg := users.Config{HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "users.db")},
		TopicOrderCreated: topic}
	s := startRun(t, cfg, users.Deps{Logger: slog.New(slog.DiscardHandler), Broker: b})
	e := &env{url: s.URL()}
	// The counter starts in the background (the API does not wait for the
	// broker): /healthz answers 200 once it consumes.
	testwait.For(t, "/healthz 200 once the counter consumes", func() bool {
		resp, err := http.Get(e.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	u := e.registerFull(t, map[string]any{"name": "Counted", "email": "counted@example.com"})
	at := time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)
	if err := streamtest.Publisher(t, ctx, b).Publish(ctx, orderCreated(t, topic, "r1", u.ID, at), orderCreated(t, topic, "r2", u.ID, at)); err != nil {
		t.Fatal(err)
	}
	got := testwait.Value(t, func() (*fullUser, error) { return e.fullUser(t, u.ID), nil },
		func(u *fullUser) bool { return u.OrderCount >= 2 })
	if got.OrderCount != 2 {
		t.Fatalf("orderCount %d, want 2", got.OrderCount)
	}
	if got.LastOrderAt == nil || !got.LastOrderAt.Equal(at) {
		t.Fatalf("lastOrderAt %v, want %v", got.LastOrderAt, at)
	}
	s.Stop(t) // Run must return nil
}
