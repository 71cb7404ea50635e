package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/subgraphs/orders"
)

// health is one /healthz answer.
type health struct {
	code   int
	Status string `json:"status"`
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

func getHealth(ctx context.Context, base string) (health, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return health{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h := health{code: resp.StatusCode}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("decode %q: %w", b, err)
	}
	return h, nil
}

// waitHealth polls base/healthz until match accepts an answer or ctx ends.
func waitHealth(t *testing.T, ctx context.Context, base, what string, match func(health) bool) health {
	t.Helper()
	var last health
	var lastErr error
	for {
		h, err := getHealth(ctx, base)
		if err == nil && match(h) {
			return h
		}
		last, lastErr = h, err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: last answer %+v (%v)", what, last, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runOrders starts orders.Run on a port chosen beforehand (its Ready
// callback only fires once the service is ready) and returns its base URL
// and a channel that is closed when it is ready.
func runOrders(t *testing.T, cfg orders.Config, b stream.Broker) (string, <-chan struct{}) {
	t.Helper()
	ports := testenv.Ports(t, 1)
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- orders.Run(ctx, cfg, orders.Deps{Logger: logger(t), Broker: b, Ready: func(net.Addr) { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("orders: Run: %v", err)
		}
	})
	return "http://" + cfg.HTTPAddr, ready
}

func ordersConfig(driver, dsn, usersURL string) orders.Config {
	suffix := uuid.NewString()[:8]
	return orders.Config{
		DB: db.Settings{Driver: driver, DSN: dsn}, UsersURL: usersURL, UsersTimeout: 5 * time.Second,
		TopicOrderCreated: "OrderCreated-" + suffix, TopicOrderCancelled: "OrderCancelled-" + suffix,
		OutboxPoll: 500 * time.Millisecond, OutboxRetention: 10 * time.Minute,
	}
}

// TestStartsWithoutItsDatabase: orders started while PostgreSQL is down
// serves health at once (503, "database unreachable"), answers GraphQL with
// UNAVAILABLE, and takes orders by itself once PostgreSQL is back.
func TestStartsWithoutItsDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	pg.Kill()

	usersURL := startUsers(t)
	userID := registerUser(t, usersURL, "startup@example.com")
	b, err := nats.New(ctx, nats.Config{URL: testenv.NATS(t), Partitions: 2}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	base, ready := runOrders(t, ordersConfig(db.Postgres, pg.AdminDSN, usersURL), b)

	h := waitHealth(t, ctx, base, "a not-ready answer", func(h health) bool { return h.code == http.StatusServiceUnavailable })
	if h.Check != "database" || h.Reason != "database unreachable" {
		t.Fatalf("/healthz while PostgreSQL is down = %+v, want check database, reason %q", h, "database unreachable")
	}
	r := post(t, base+"/graphql", createOrder, map[string]any{"in": orderInput(userID)})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAVAILABLE" {
		t.Fatalf("createOrder while PostgreSQL is down: %s %+v, want UNAVAILABLE", r.Data, r.Errors)
	}

	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("orders did not become ready after PostgreSQL came back")
	}
	waitHealth(t, ctx, base, "/healthz 200", func(h health) bool { return h.code == http.StatusOK })
	r = post(t, base+"/graphql", createOrder, map[string]any{"in": orderInput(userID)})
	if len(r.Errors) > 0 {
		t.Fatalf("createOrder after PostgreSQL came back: %+v", r.Errors)
	}
}

// TestTakesOrdersWithoutItsBroker: orders started while Kafka is down is
// ready for orders (they wait in the outbox), says the broker is what it
// waits for, and publishes them once Kafka is back.
func TestTakesOrdersWithoutItsBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	k := testenv.NewKafka(t)
	k.Kill(t)
	b, err := kafka.New(ctx, kafka.Config{Brokers: k.Brokers, Partitions: 1}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	usersURL := startUsers(t)
	userID := registerUser(t, usersURL, "nobroker@example.com")
	cfg := ordersConfig(db.Postgres, testenv.Postgres(t), usersURL)
	base, ready := runOrders(t, cfg, b)
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("orders did not become ready without its broker")
	}
	h := waitHealth(t, ctx, base, "a not-ready answer naming the broker", func(h health) bool { return h.code == http.StatusServiceUnavailable })
	if h.Check != "broker" || !strings.Contains(h.Reason, "broker unreachable") {
		t.Fatalf("/healthz while Kafka is down = %+v, want check broker with its reason", h)
	}
	r := post(t, base+"/graphql", createOrder, map[string]any{"in": orderInput(userID)})
	var d struct{ CreateOrder orderJSON }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &d) != nil || d.CreateOrder.ID == "" {
		t.Fatalf("createOrder while Kafka is down: %s %+v, want the order taken", r.Data, r.Errors)
	}

	k.Start(t)
	waitHealth(t, ctx, base, "/healthz 200 once Kafka is back", func(h health) bool { return h.code == http.StatusOK })
	seen := make(chan string, 1)
	streamtest.StartConsumer(t, b, cfg.TopicOrderCreated, "startup-test-"+uuid.NewString()[:8], func(_ context.Context, m stream.Message) error {
		if strings.Contains(string(m.Value), d.CreateOrder.ID) {
			select {
			case seen <- d.CreateOrder.ID:
			default:
			}
		}
		return nil
	})
	select {
	case <-seen:
	case <-ctx.Done():
		t.Fatal("the order taken while Kafka was down was not published after it came back")
	}
}
