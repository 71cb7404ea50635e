package e2e

// Recovery proofs (issue 9): how fast the pipeline resumes after a fault,
// and that it resumes by itself. Each measures the time from the fault (or
// the dependency's return) to the first email after it and logs it; the
// assertions are about correctness (every acknowledged order has exactly one
// email, clients see only UNAVAILABLE), never about a time bound a loaded
// machine might miss. Deadlines are generous and only end a hung test.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/testenv"
)

// firstMailAfter waits until mailpit holds more than n messages and returns
// how long after since that was seen.
func firstMailAfter(t *testing.T, ctx context.Context, p *proof, n int, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	waitMailTotal(t, ctx, p.mailpit, n+1, within)
	return time.Since(since)
}

// waitReady polls the process's /readyz (or /healthz) until it answers 200.
func waitReady(t *testing.T, ctx context.Context, pr *proc, path string) {
	t.Helper()
	if err := pr.WaitHTTP(ctx, pr.HTTP+path, testenv.StatusOK); err != nil {
		t.Fatal(err)
	}
}

// waitReason polls the process's health path until it answers 503 with
// the given reason: proof that it started and knows what it waits for.
func waitReason(t *testing.T, ctx context.Context, pr *proc, path, reason string) {
	t.Helper()
	err := pr.WaitHTTP(ctx, pr.HTTP+path, func(status int, body []byte) error {
		if status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"reason":"`+reason+`"`) {
			return fmt.Errorf("HTTP %d %s, want 503 with reason %q", status, body, reason)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("while its dependency is down: %v", err)
	}
	t.Logf("%s %s while its dependency is down: 503 %q", pr.Name, path, reason)
}

// logAudit logs a proof's audit in the words of the issue.
func logAudit(t *testing.T, name string, p *proof, want []expectation) {
	t.Helper()
	a := auditMail(t, p.ctx, p.mailpit, want)
	t.Logf("AUDIT %s: acknowledged %d, delivered once %d, missing %d, doubled %d, crash-window resends %d",
		name, len(want), len(want)-len(a.Missing)-len(a.Doubled), len(a.Missing), len(a.Doubled), a.resends())
}

// placeOrder creates the i-th order of a load, for userID, and returns its id.
type placeOrder func(ctx context.Context, i int, userID string) (string, error)

// through places orders through one router, failing on any error.
func through(c *client) placeOrder {
	return func(ctx context.Context, _ int, userID string) (string, error) { return tryCreateOrder(ctx, c, userID) }
}

// pacedOrders creates one order per customer, one every `every`, until cs
// is used up or ctx ends.
func pacedOrders(ctx context.Context, place placeOrder, cs []customer, every time.Duration, book *orderBook) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var wg sync.WaitGroup
	errc := make(chan error, len(cs))
	for i, cu := range cs {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-tick.C:
		}
		wg.Go(func() {
			id, err := place(ctx, i, cu.ID)
			if err != nil {
				errc <- err
				return
			}
			book.add(expectation{Recipient: cu.Email, OrderID: id})
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// Proof 7: the notifier SIGKILLed and restarted at once while orders keep
// coming sends its next email within seconds: as a static group member
// (HERALD_STREAM_INSTANCE_ID) it takes its partitions back without waiting
// for the killed member's session to expire. The same with dynamic
// membership is measured beside it: that wait is the session timeout.
func TestProof7NotifierRestartResumesAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := startProof(t, ctx, testenv.Kafka(t).Brokers, nil, stackOptions{})
	cs := registerCustomers(t, ctx, p.stack.Router, "p7", 120)
	book := &orderBook{}
	waitReady(t, ctx, p.stack.Proc("notifier"), "/readyz")

	kills := 0
	round := func(name string, from, to int, env map[string]string) {
		kills++
		created := make(chan error, 1)
		go func() { created <- pacedOrders(ctx, through(p.stack.Router), cs[from:to], 100*time.Millisecond, book) }()
		waitMailTotal(t, ctx, p.mailpit, from+10, 2*time.Minute) // mail is flowing
		killed := time.Now()
		p.stack.Proc("notifier").Kill()
		atKill, err := mailCount(ctx, p.mailpit)
		if err != nil {
			t.Fatal(err)
		}
		pr := p.stack.Launch(t, "notifier", env)
		took := firstMailAfter(t, ctx, p, atKill, killed, 3*time.Minute)
		waitReady(t, ctx, pr, "/readyz")
		ready := time.Since(killed)
		if err := <-created; err != nil {
			t.Fatalf("create orders: %v", err)
		}
		t.Logf("RECOVERY notifier SIGKILL + restart (%s): first email %s after the kill, /readyz 200 after %s",
			name, took.Round(10*time.Millisecond), ready.Round(10*time.Millisecond))
		// A worker killed between the relay's accept and its commit resends
		// with the same Message-ID: at most one per worker and kill.
		p.finish(t, book.all(), kills*deliveryWorkers, 3*time.Minute)
	}
	round("static member", 0, 60, nil)
	// Dynamic membership: the restarted process is a new member; the group
	// waits for the killed one's session (HERALD_KAFKA_SESSION_TIMEOUT).
	round("dynamic member", 60, 120, map[string]string{"HERALD_STREAM_INSTANCE_ID": ""})
	logAudit(t, "proof 7", p, book.all())
}

// Proof 8: with Kafka down, users, orders and notifier are restarted (each
// would have exited at start-up before): they start, orders takes orders
// into its outbox, and once Kafka is back everything flows by itself, every
// order with exactly one email.
func TestProof8ServicesStartWithoutKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	k := testenv.NewKafka(t)
	p := startProof(t, ctx, k.Brokers, nil, stackOptions{})
	cs := registerCustomers(t, ctx, p.stack.Router, "p8", 40)
	book := &orderBook{}
	if err := createOrders(ctx, p.stack.Router, cs[:10], 2, book); err != nil {
		t.Fatal(err)
	}
	waitMailTotal(t, ctx, p.mailpit, 10, 2*time.Minute)

	k.Kill(t)
	for _, name := range []string{"users", "orders", "notifier"} {
		p.stack.Proc(name).Kill()
		pr := p.stack.Launch(t, name, nil)
		// It starts, says it waits for the broker, and stays up.
		path, reason := "/healthz", "broker unreachable"
		switch name {
		case "notifier":
			path = "/readyz"
		case "orders":
			reason = "broker unreachable: orders wait in the outbox"
		}
		waitReason(t, ctx, pr, path, reason)
	}
	// orders is ready for orders without its broker: they wait in the outbox.
	if err := createOrders(ctx, p.stack.Router, cs[10:30], 2, book); err != nil {
		t.Fatalf("create orders while Kafka is down: %v", err)
	}
	for _, name := range []string{"users", "orders", "notifier"} {
		if p.stack.Proc(name).Exited() {
			t.Fatalf("%s exited while Kafka was down", name)
		}
	}
	atBack, err := mailCount(ctx, p.mailpit)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	k.Start(t)
	back := time.Now()
	took := firstMailAfter(t, ctx, p, atBack, back, 3*time.Minute)
	waitReady(t, ctx, p.stack.Proc("notifier"), "/readyz")
	waitReady(t, ctx, p.stack.Proc("orders"), "/healthz")
	waitReady(t, ctx, p.stack.Proc("users"), "/healthz")
	t.Logf("RECOVERY services started while Kafka was down: broker restart took %s; first email %s after it answered",
		back.Sub(began).Round(10*time.Millisecond), took.Round(10*time.Millisecond))
	if err := createOrders(ctx, p.stack.Router, cs[30:], 2, book); err != nil {
		t.Fatal(err)
	}
	p.finish(t, book.all(), 0, 3*time.Minute)
	logAudit(t, "proof 8", p, book.all())
}

// codeTally counts the GraphQL error codes clients saw.
type codeTally struct {
	mu    sync.Mutex
	codes map[string]int
	first map[string]string // code → first message
}

func (c *codeTally) add(e gqlError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes, c.first = map[string]int{}, map[string]string{}
	}
	c.codes[e.Code()]++
	if _, ok := c.first[e.Code()]; !ok {
		c.first[e.Code()] = e.Message
	}
}

func (c *codeTally) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.codes {
		out[k] = v
	}
	return out
}

var errNotRetryable = errors.New("error other than UNAVAILABLE")

// createOrderRetrying creates one order with an idempotency key of its own
// and retries it, with the same key, for as long as the only errors are
// UNAVAILABLE (what a well-behaved client does). With more than one router
// it also moves to the next router on each retry and takes a router it
// cannot reach (TRANSPORT) as retryable, as a client behind a load
// balancer would; with one, that router being unreachable is an error.
func createOrderRetrying(ctx context.Context, routers []*client, userID string, tally *codeTally) (string, error) {
	in := orderInput(userID)
	in["idempotencyKey"] = uuid.NewString()
	try := 0
	id, err := backoff.Retry(ctx, func() (string, error) {
		var r struct {
			CreateOrder struct {
				ID string `json:"id"`
			} `json:"createOrder"`
		}
		c := routers[try%len(routers)]
		try++
		errs, err := c.Do(ctx, `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id } }`, map[string]any{"in": in}, &r)
		if err != nil {
			if ctx.Err() != nil {
				return "", backoff.Permanent(ctx.Err())
			}
			tally.add(gqlError{Message: err.Error(), Extensions: map[string]any{"code": "TRANSPORT"}})
			if len(routers) == 1 {
				return "", backoff.Permanent(fmt.Errorf("%w: %v", errNotRetryable, err))
			}
			return "", err
		}
		if len(errs) == 0 && r.CreateOrder.ID != "" {
			return r.CreateOrder.ID, nil
		}
		for _, e := range errs {
			tally.add(e)
			if e.Code() != "UNAVAILABLE" {
				return "", backoff.Permanent(fmt.Errorf("%w: %s %q", errNotRetryable, e.Code(), e.Message))
			}
		}
		return "", errors.New("UNAVAILABLE")
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second,
	}), backoff.WithMaxElapsedTime(0)) // clients retry for as long as the test lets them
	if err != nil && ctx.Err() != nil {
		return "", ctx.Err()
	}
	return id, err
}

// privatePostgres starts a PostgreSQL cluster for this test alone (it is
// killed) with a database per service.
func privatePostgres(t *testing.T, ctx context.Context) (*testenv.PostgresServer, map[string]string) {
	t.Helper()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	dsn := map[string]string{}
	for _, name := range []string{"users", "orders", "notifier"} {
		var err error
		if dsn[name], _, err = testenv.CreateDatabase(ctx, pg.AdminDSN, name); err != nil {
			t.Fatal(err)
		}
	}
	return pg, dsn
}

// Proof 9: PostgreSQL (every service's database) SIGKILLed under load and
// restarted, with the notifier and users restarted while it is down. Clients
// retry by idempotency key: they see only UNAVAILABLE, nothing they were
// told is created is lost or doubled, and every service comes back by
// itself.
func TestProof9PostgresKilledUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pg, dsn := privatePostgres(t, ctx)
	p := startProof(t, ctx, testenv.Kafka(t).Brokers, nil, stackOptions{DSN: dsn})
	const n = 150
	cs := registerCustomers(t, ctx, p.stack.Router, "p9", n)
	book := &orderBook{}
	tally := &codeTally{}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	// The second half of the orders waits for the outage, so that clients
	// meet it however fast the first half went through.
	outage := make(chan struct{})
	created := make(chan error, 1)
	go func() {
		created <- forEach(loadCtx, n, 6, func(ctx context.Context, i int) error {
			if i >= n/2 {
				select {
				case <-outage:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			id, err := createOrderRetrying(ctx, []*client{p.stack.Router}, cs[i].ID, tally)
			if err != nil {
				return err
			}
			book.add(expectation{Recipient: cs[i].Email, OrderID: id})
			return nil
		})
	}()
	waitMailTotal(t, ctx, p.mailpit, 30, 2*time.Minute)

	killed := time.Now()
	pg.Kill()
	close(outage)
	// Services started while their database is down come up by themselves.
	for name, path := range map[string]string{"users": "/healthz", "notifier": "/readyz"} {
		p.stack.Proc(name).Kill()
		pr := p.stack.Launch(t, name, nil)
		waitReason(t, ctx, pr, path, "database unreachable")
	}
	// The outage reaches the clients before the database comes back.
	for tally.snapshot()["UNAVAILABLE"] == 0 {
		select {
		case err := <-created:
			t.Fatalf("orders all created before the outage showed (err %v)", err)
		case <-ctx.Done():
			t.Fatal("clients never saw UNAVAILABLE while PostgreSQL was down")
		case <-time.After(50 * time.Millisecond):
		}
	}
	atBack, err := mailCount(ctx, p.mailpit)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	took := firstMailAfter(t, ctx, p, atBack, back, 3*time.Minute)
	for _, name := range []string{"users", "orders"} {
		waitReady(t, ctx, p.stack.Proc(name), "/healthz")
	}
	waitReady(t, ctx, p.stack.Proc("notifier"), "/readyz")
	t.Logf("RECOVERY PostgreSQL SIGKILL: down %s; first email %s after it was back (%s after the kill)",
		back.Sub(killed).Round(10*time.Millisecond), took.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))

	if err := <-created; err != nil {
		t.Fatalf("clients: %v (codes seen: %v)", err, tally.snapshot())
	}
	codes := tally.snapshot()
	for code := range codes {
		if code != "UNAVAILABLE" {
			t.Fatalf("clients saw %s (%q); want only UNAVAILABLE (all: %v)", code, tally.first[code], codes)
		}
	}
	t.Logf("clients saw %v while PostgreSQL was away, retried by idempotency key", codes)
	if book.len() != n {
		t.Fatalf("%d orders acknowledged, want %d", book.len(), n)
	}
	p.finish(t, book.all(), deliveryWorkers, 3*time.Minute)
	logAudit(t, "proof 9", p, book.all())
}
