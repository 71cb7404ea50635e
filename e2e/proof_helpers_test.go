package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	heraldnats "github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// ---- notifier features ---------------------------------------------------

// notifierFeatures is what the built notifier binary offers, read from its
// --help, so the proofs use a feature as soon as it lands and say plainly
// what they check instead until then.
type notifierFeatures struct {
	Vars        map[string]bool // environment variables it reads
	Statuses    bool            // publishes NotificationStatus events
	DLQReplay   bool            // has the `dlq replay` subcommand
	helpOutput  string
	replayUsage string
}

var (
	featuresOnce sync.Once
	features     notifierFeatures
	featuresErr  error
)

func detectNotifier(t *testing.T) notifierFeatures {
	t.Helper()
	bin := testenv.Binaries(t) + "/notifier"
	featuresOnce.Do(func() {
		help, err := exec.Command(bin, "--help").CombinedOutput()
		if err != nil {
			featuresErr = fmt.Errorf("notifier --help: %w\n%s", err, help)
			return
		}
		f := notifierFeatures{Vars: map[string]bool{}, helpOutput: string(help)}
		for _, line := range strings.Split(string(help), "\n") {
			if fs := strings.Fields(line); len(fs) > 0 && strings.HasPrefix(fs[0], "HERALD_") {
				f.Vars[fs[0]] = true
			}
		}
		f.Statuses = f.Vars["HERALD_TOPIC_NOTIFICATION_STATUS"]
		// A binary without the subcommand prints its general usage for any
		// arguments with --help; one with it prints something else.
		sub, _ := exec.Command(bin, "dlq", "replay", "--help").CombinedOutput()
		f.replayUsage = string(sub)
		f.DLQReplay = strings.Contains(string(help), "dlq replay") ||
			(len(sub) > 0 && string(sub) != string(help) && strings.Contains(strings.ToLower(string(sub)), "replay"))
		features = f
	})
	if featuresErr != nil {
		t.Fatal(featuresErr)
	}
	return features
}

// fastNotifierEnv shortens the notifier's schedules so the proofs run in
// seconds: quick polls, a short lease (a killed worker's claim expires fast)
// and a short backoff. Caps on attempts or age, when the notifier has them,
// are raised so a 20 s outage never exhausts a delivery.
func fastNotifierEnv(t *testing.T) map[string]string {
	f := detectNotifier(t)
	env := map[string]string{
		"HERALD_DELIVERY_WORKERS":      "4",
		"HERALD_DELIVERY_POLL":         "250ms",
		"HERALD_DELIVERY_LEASE":        "8s",
		"HERALD_SMTP_TIMEOUT":          "5s",
		"HERALD_DELIVERY_BACKOFF_BASE": "500ms",
		"HERALD_DELIVERY_BACKOFF_MAX":  "3s",
		"HERALD_USERS_TIMEOUT":         "3s",
		// The lease must outlast every channel's timeout.
		"HERALD_SMS_TIMEOUT":     "5s",
		"HERALD_WEBHOOK_TIMEOUT": "5s",
	}
	for v := range f.Vars {
		switch {
		case v == "HERALD_USERS_BREAKER_OPEN":
			env[v] = "2s" // probe the users service again soon after it returns
		case strings.HasPrefix(v, "HERALD_DELIVERY_") && strings.Contains(v, "ATTEMPTS"):
			env[v] = "1000"
		case strings.HasPrefix(v, "HERALD_DELIVERY_") && strings.Contains(v, "MAX_AGE"):
			env[v] = "1h"
		}
	}
	return env
}

// ---- mailpit ---------------------------------------------------------------

// mailCount is the number of stored messages.
func mailCount(ctx context.Context, mp *testenv.MailpitServer) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return mp.Count(ctx)
}

// waitMailTotal waits until mailpit holds at least n messages.
func waitMailTotal(t *testing.T, ctx context.Context, mp *testenv.MailpitServer, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := mailCount(ctx, mp)
		if err != nil {
			t.Fatalf("read mailpit: %v", err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%d emails after %s, want at least %d", got, within, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectation is one order that must produce exactly one email to one
// recipient (each order in the proofs has a user of its own).
type expectation struct {
	Recipient string
	OrderID   string
}

// mailAudit counts what mailpit holds against what was expected.
type mailAudit struct {
	Missing    []expectation       // no email at all
	Doubled    map[string][]string // recipient → distinct Message-IDs (> 1: two different sends)
	Resent     map[string]int      // recipient → extra copies of one Message-ID (a crash-window resend)
	WrongOrder []string            // recipient whose email does not name its order
	Unexpected []string            // recipients nobody expected mail for
	Copies     int                 // every stored message
}

func (a mailAudit) resends() int {
	n := 0
	for _, c := range a.Resent {
		n += c
	}
	return n
}

// auditMail reads every message and compares it with want.
func auditMail(t *testing.T, ctx context.Context, mp *testenv.MailpitServer, want []expectation) mailAudit {
	t.Helper()
	msgs, err := mp.All(ctx)
	if err != nil {
		t.Fatalf("read mailpit: %v", err)
	}
	byRcpt := map[string][]testenv.MailSummary{}
	for _, m := range msgs {
		for _, to := range m.To {
			to = strings.ToLower(to)
			byRcpt[to] = append(byRcpt[to], m)
		}
	}
	a := mailAudit{Doubled: map[string][]string{}, Resent: map[string]int{}, Copies: len(msgs)}
	expected := map[string]bool{}
	for _, w := range want {
		rcpt := strings.ToLower(w.Recipient)
		expected[rcpt] = true
		got := byRcpt[rcpt]
		if len(got) == 0 {
			a.Missing = append(a.Missing, w)
			continue
		}
		ids := map[string]int{}
		for _, m := range got {
			ids[m.MessageID]++
		}
		if len(ids) > 1 {
			for id := range ids {
				a.Doubled[rcpt] = append(a.Doubled[rcpt], id)
			}
			sort.Strings(a.Doubled[rcpt])
		}
		for _, n := range ids {
			if n > 1 {
				a.Resent[rcpt] += n - 1
			}
		}
		m := got[0]
		if !strings.Contains(m.Subject+" "+m.Snippet, w.OrderID) {
			msg, err := mp.Message(ctx, m.ID)
			if err != nil {
				t.Fatalf("read mailpit message %s: %v", m.ID, err)
			}
			if !strings.Contains(msg.Text, w.OrderID) {
				a.WrongOrder = append(a.WrongOrder, rcpt)
			}
		}
	}
	for rcpt := range byRcpt {
		if !expected[rcpt] {
			a.Unexpected = append(a.Unexpected, rcpt)
		}
	}
	sort.Strings(a.Unexpected)
	return a
}

// requireExactlyOnce fails unless every expected email arrived exactly once
// and nothing else arrived. allowedResends > 0 tolerates that many extra
// copies with the SAME Message-ID, the one duplicate the design admits: a
// crash between the relay's accept and the notifier's commit.
func requireExactlyOnce(t *testing.T, a mailAudit, want []expectation, allowedResends int) {
	t.Helper()
	var problems []string
	if len(a.Missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d expected emails missing (first: %+v)", len(a.Missing), len(want), a.Missing[0]))
	}
	if len(a.Doubled) > 0 {
		problems = append(problems, fmt.Sprintf("%d recipients got two different emails (distinct Message-IDs): %v", len(a.Doubled), a.Doubled))
	}
	if len(a.WrongOrder) > 0 {
		problems = append(problems, fmt.Sprintf("%d emails do not name their order: %v", len(a.WrongOrder), a.WrongOrder))
	}
	if len(a.Unexpected) > 0 {
		problems = append(problems, fmt.Sprintf("mail to unexpected recipients: %v", a.Unexpected))
	}
	if r := a.resends(); r > allowedResends {
		problems = append(problems, fmt.Sprintf("%d resent copies (same Message-ID), at most %d allowed: %v", r, allowedResends, a.Resent))
	} else if r > 0 {
		t.Logf("crash-window resends (same Message-ID, allowed up to %d): %v", allowedResends, a.Resent)
	}
	if len(problems) > 0 {
		t.Fatalf("mail audit (%d messages stored):\n  %s", a.Copies, strings.Join(problems, "\n  "))
	}
	t.Logf("mail audit: %d expected emails, each delivered once (%d messages stored)", len(want), a.Copies)
}

// ---- the notifier's database ----------------------------------------------

// notifierDB reads the notifier's deliveries table. The proofs use it to
// know when no send is outstanding and, until status events exist, for the
// retry history; its queries are tolerant of a changing schema and report
// an error instead of guessing.
type notifierDB struct{ db *db.DB }

func openNotifierDB(t *testing.T, ctx context.Context, dsn string) *notifierDB {
	t.Helper()
	d, err := db.Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatalf("open notifier database: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return &notifierDB{db: d}
}

type deliveryRow struct {
	OrderID, Status string
	Attempts        int
}

// emailDeliveries lists the email deliveries.
func (n *notifierDB) emailDeliveries(ctx context.Context) ([]deliveryRow, error) {
	rows, err := n.db.SQL.QueryContext(ctx,
		`SELECT order_id, upper(status::text), attempts FROM deliveries WHERE lower(channel::text) = 'email'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []deliveryRow
	for rows.Next() {
		var r deliveryRow
		if err := rows.Scan(&r.OrderID, &r.Status, &r.Attempts); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

var terminal = map[string]bool{"SENT": true, "FAILED": true, "SKIPPED": true}

// waitSettled waits until the notifier has recorded at least want email
// deliveries and none is still due, claimed or waiting for a retry: after
// that no further email can be sent, so counting mail is exact. Without a
// readable deliveries table it waits out one lease instead (a claimed send
// ends within it) and says so.
func waitSettled(t *testing.T, ctx context.Context, n *notifierDB, want int, lease time.Duration, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rows, err := n.emailDeliveries(ctx)
		if err != nil {
			t.Logf("deliveries table not readable (%v): waiting one lease (%s) instead", err, lease)
			time.Sleep(lease + 2*time.Second)
			return
		}
		open := 0
		for _, r := range rows {
			if !terminal[r.Status] {
				open++
			}
		}
		if len(rows) >= want && open == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("notifier not settled after %s: %d email deliveries (want %d), %d not final", within, len(rows), want, open)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// requireOneDeliveryPerOrder checks the notifier recorded exactly one email
// delivery per order, all SENT.
func requireOneDeliveryPerOrder(t *testing.T, ctx context.Context, n *notifierDB, want []expectation) []deliveryRow {
	t.Helper()
	rows, err := n.emailDeliveries(ctx)
	if err != nil {
		t.Fatalf("read deliveries: %v", err)
	}
	per := map[string][]deliveryRow{}
	for _, r := range rows {
		per[r.OrderID] = append(per[r.OrderID], r)
	}
	for _, w := range want {
		got := per[w.OrderID]
		if len(got) != 1 || got[0].Status != "SENT" {
			t.Fatalf("order %s: email deliveries %+v, want exactly one SENT", w.OrderID, got)
		}
	}
	if len(rows) != len(want) {
		t.Fatalf("%d email deliveries recorded, want %d", len(rows), len(want))
	}
	return rows
}

// ---- users and orders in bulk -----------------------------------------------

// forEach runs f(i) for i in [0, n) on `workers` goroutines and returns the
// first error.
func forEach(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

type customer struct {
	ID, Email string
}

// registerCustomers registers n users with email on, each with an address
// of its own, so one recipient means one order.
func registerCustomers(t *testing.T, ctx context.Context, c *client, tag string, n int) []customer {
	t.Helper()
	out := make([]customer, n)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	err := forEach(ctx, n, 8, func(ctx context.Context, i int) error {
		email := fmt.Sprintf("%s-%d+%s@example.com", tag, i, suffix)
		id, err := tryRegisterUser(ctx, c, fmt.Sprintf("Customer %d", i), email, true)
		out[i] = customer{ID: id, Email: email}
		return err
	})
	if err != nil {
		t.Fatalf("register %d users: %v", n, err)
	}
	return out
}

// orderBook records created orders; safe for concurrent use.
type orderBook struct {
	mu   sync.Mutex
	want []expectation
}

func (b *orderBook) add(e expectation) {
	b.mu.Lock()
	b.want = append(b.want, e)
	b.mu.Unlock()
}

func (b *orderBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.want)
}

func (b *orderBook) all() []expectation {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]expectation(nil), b.want...)
}

// createOrders creates one order for each customer in cs, `workers` at a
// time, and returns what each must produce.
func createOrders(ctx context.Context, c *client, cs []customer, workers int, book *orderBook) error {
	return forEach(ctx, len(cs), workers, func(ctx context.Context, i int) error {
		id, err := tryCreateOrder(ctx, c, cs[i].ID)
		if err != nil {
			return err
		}
		book.add(expectation{Recipient: cs[i].Email, OrderID: id})
		return nil
	})
}

// ---- the stream -------------------------------------------------------------

// kafkaBroker opens Herald's stream layer on a Kafka broker, as a test
// client beside the services.
func kafkaBroker(t *testing.T, brokers []string) stream.Broker {
	t.Helper()
	return streamtest.Open(t, kafka.New, kafka.Config{Brokers: brokers, ClientID: "herald-e2e"})
}

// natsBroker opens Herald's stream layer on NATS JetStream (url may list
// several servers), as a test client beside the services.
func natsBroker(t *testing.T, url string) stream.Broker {
	t.Helper()
	return streamtest.Open(t, heraldnats.New, heraldnats.Config{URL: url, Name: "herald-e2e"})
}

// collector consumes a topic with a group of its own (from the start) and
// keeps every message.
type collector struct {
	mu   sync.Mutex
	msgs []stream.Message
}

func collect(t *testing.T, ctx context.Context, b stream.Broker, topic, group string) *collector {
	t.Helper()
	if err := b.EnsureTopic(ctx, topic); err != nil {
		t.Fatalf("ensure topic %s: %v", topic, err)
	}
	sub, err := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	if err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	c := &collector{}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sub.Consume(cctx, func(_ context.Context, m stream.Message) error {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = sub.Close()
	})
	return c
}

func (c *collector) all() []stream.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]stream.Message(nil), c.msgs...)
}

// waitFor waits until match holds for at least n collected messages and
// returns those.
func (c *collector) waitFor(t *testing.T, ctx context.Context, what string, n int, within time.Duration, match func(stream.Message) bool) []stream.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got []stream.Message
		for _, m := range c.all() {
			if match(m) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%d %s after %s, want %d", len(got), what, within, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitGroupShared waits until the consumer group is stable with `members`
// members that each own at least one partition, and returns how many
// partitions each member owns.
func waitGroupShared(t *testing.T, ctx context.Context, brokers []string, group string, members int, within time.Duration) []int {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	deadline := time.Now().Add(within)
	var last string
	for {
		described, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			err = described.Error()
		}
		if err != nil {
			last = err.Error()
		} else if g, ok := described[group]; ok {
			var owned []int
			for _, m := range g.Members {
				n := 0
				if c, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range c.Topics {
						n += len(tp.Partitions)
					}
				}
				owned = append(owned, n)
			}
			sort.Ints(owned)
			last = fmt.Sprintf("state %s, partitions per member %v", g.State, owned)
			if g.State == "Stable" && len(owned) == members && owned[0] > 0 {
				return owned
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("group %s not shared by %d members after %s: %s", group, members, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
