package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
)

func pipelineConfig(users *usersService, mp *testenv.MailpitServer, driver, dsn string) Config {
	return Config{
		HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: driver, DSN: dsn},
		UsersURL: users.URL, UsersTimeout: 5 * time.Second,
		Topic: uniqueName("OrderCreated"), TopicCancelled: uniqueName("OrderCancelled"),
		StatusTopic: uniqueName("NotificationStatus"), Group: uniqueName("herald-notifier"),
		Channels: Channels{email.Name: mailpitEmail(mp)},
		Workers:  2, Poll: 200 * time.Millisecond, Lease: time.Minute,
		Backoff:     Backoff{Base: 200 * time.Millisecond, Max: time.Second, Jitter: 0.5},
		MaxAttempts: 100, MaxAge: time.Hour,
		Breaker: BreakerSettings{Failures: 5, OpenFor: time.Second},
	}
}

// newPipeline is what the Kafka pipeline tests run the notifier against:
// the broker, the users service, a configuration over a fresh PostgreSQL
// database with mp as the SMTP relay, and a reader of the status topic.
func newPipeline(t *testing.T, mp *testenv.MailpitServer) (stream.Broker, *usersService, Config, *statusCollector) {
	t.Helper()
	broker := kafkaBroker(t)
	users := startUsers(t)
	cfg := pipelineConfig(users, mp, db.Postgres, testenv.Postgres(t))
	return broker, users, cfg, collectStatuses(t, broker, cfg.StatusTopic)
}

// statusCollector consumes the NotificationStatus topic with its own group.
type statusCollector struct {
	mu   sync.Mutex
	msgs []events.NotificationStatus
	ids  []string
}

func collectStatuses(t *testing.T, broker stream.Broker, topic string) *statusCollector {
	t.Helper()
	c := &statusCollector{}
	streamtest.StartConsumer(t, broker, topic, uniqueName("status-reader"), func(_ context.Context, m stream.Message) error {
		var st events.NotificationStatus
		env, err := events.Decode(m, events.TypeNotificationStatus, &st)
		if err != nil {
			t.Errorf("status event does not decode: %v", err)
			return nil
		}
		if m.Key != st.OrderID {
			t.Errorf("status event key %q, want the order id %q", m.Key, st.OrderID)
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, st)
		c.ids = append(c.ids, env.ID)
		c.mu.Unlock()
		return nil
	})
	return c
}

func (c *statusCollector) forOrder(orderID string) []events.NotificationStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []events.NotificationStatus
	for _, m := range c.msgs {
		if m.OrderID == orderID {
			out = append(out, m)
		}
	}
	return out
}

func (c *statusCollector) waitFor(t *testing.T, orderID, status string) []events.NotificationStatus {
	t.Helper()
	var got []events.NotificationStatus
	testwait.For(t, fmt.Sprintf("status %s for %s", status, orderID), func() bool {
		got = c.forOrder(orderID)
		for _, s := range got {
			if s.Status == status {
				return true
			}
		}
		return false
	})
	return got
}

// The heart of the status contract on real Kafka, PostgreSQL and a private
// mailpit: a relay refusing mail (451) makes the delivery RETRYING with
// growing attempts; once it accepts, SENT. The events arrive on the
// NotificationStatus topic in order, each a legal transition, and the
// metrics and readiness endpoints report it.
func TestStatusEventsRetryThenSentKafka(t *testing.T) {
	mp := testenv.NewMailpit(t)
	broker, users, cfg, statuses := newPipeline(t, mp)
	ctx := context.Background()
	if err := mp.SetChaos(ctx, testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 451, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	stop, base := startRunDeps(t, cfg, Deps{Broker: broker})
	defer stop()

	to := uniqueAddress("retry")
	uid := users.register(t, "Grace", to, "", true, false)
	publisher(t, broker)(orderMessage(t, cfg.Topic, uid, "ord-retry"))

	// At least two failed attempts, then the relay recovers.
	testwait.For(t, "two RETRYING events", func() bool {
		n := 0
		for _, s := range statuses.forOrder("ord-retry") {
			if s.Status == events.StatusRetrying {
				n++
			}
		}
		return n >= 2
	})
	if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	got := statuses.waitFor(t, "ord-retry", events.StatusSent)
	if msgs := waitMail(t, mp, to, 1); len(msgs) != 1 {
		t.Fatalf("%d emails, want 1", len(msgs))
	}

	// Order and content: PENDING, RETRYING×n (attempt 1..n, with reason and
	// next attempt), SENT (attempt n+1).
	prev := ""
	for i, s := range got {
		if !CanTransition(prev, s.Status) {
			t.Errorf("event %d: %s after %q is not a forward transition (all: %+v)", i, s.Status, prev, got)
		}
		if s.Channel != events.ChannelEmail || s.UserID != uid || s.NotificationID == "" || s.EventID == "" || s.Time.IsZero() {
			t.Errorf("event %d lacks fields: %+v", i, s)
		}
		switch s.Status {
		case events.StatusPending:
			if i != 0 || s.Attempt != 0 {
				t.Errorf("PENDING must come first with attempt 0: %+v", s)
			}
		case events.StatusRetrying:
			if s.Attempt != i || s.Reason == "" || !strings.Contains(s.Reason, "451") || s.NextAttemptAt == nil || !s.NextAttemptAt.After(s.Time) {
				t.Errorf("RETRYING event %d: %+v", i, s)
			}
		case events.StatusSent:
			if i != len(got)-1 || s.Attempt != i || s.Reason != "" || s.NextAttemptAt != nil {
				t.Errorf("SENT must be last, attempt %d: %+v", i, s)
			}
		}
		if i > 0 && !s.Time.After(got[i-1].Time) {
			t.Errorf("event %d time %v not after %v", i, s.Time, got[i-1].Time)
		}
		prev = s.Status
	}
	if got[0].Status != events.StatusPending {
		t.Errorf("first event %s, want PENDING", got[0].Status)
	}

	// /readyz: broker, database and users service all reachable.
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
	// /metrics: the transitions, the retries, the send latency and the lag.
	retries := 0
	for _, s := range got {
		if s.Status == events.StatusRetrying {
			retries++
		}
	}
	checks := []struct {
		name, labels string
		want         float64
	}{
		{MetricConsumerLag, "", 0},
		{MetricOutboxPending, "", 0},
		{MetricEventsConsumed, `result="recorded"`, 1},
		{MetricDeliveries, `channel="email",status="PENDING"`, 1},
		{MetricDeliveries, `channel="email",status="RETRYING"`, float64(retries)},
		{MetricDeliveries, `channel="email",status="SENT"`, 1},
		{MetricRetries, `channel="email"`, float64(retries)},
		{MetricSendDuration + "_count", `channel="email",outcome="sent"`, 1},
		{MetricSendDuration + "_count", `channel="email",outcome="transient"`, float64(retries)},
		{MetricUsersBreaker, "", 0},
	}
	// The counters of a transition are incremented after its commit, and
	// on PostgreSQL the relay is woken by the commit itself (LISTEN/NOTIFY):
	// the SENT event can be on the topic, and the outbox empty, before the
	// worker counted it. So wait (patiently) for the expected values, then
	// report every one that differs.
	metrics := testwait.Value(t, func() (string, error) { _, m := httpGet(t, base+"/metrics"); return m, nil }, func(metrics string) bool {
		for _, c := range checks {
			if metricValue(metrics, c.name, c.labels) != c.want {
				return false
			}
		}
		return true
	})
	for _, c := range checks {
		if got := metricValue(metrics, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if !strings.Contains(metrics, MetricConsumerLag+`{group="`+cfg.Group+`",topic="`+cfg.Topic+`"}`) {
		t.Errorf("no consumer lag for the group in /metrics")
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the value of the first sample of name whose label set
// contains labels (a substring such as `channel="email"`), or -1.
func metricValue(text, name, labels string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if labels != "" && !strings.Contains(m[1], labels) {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err == nil {
			return v
		}
	}
	return -1
}

// A message the notifier cannot process (here: its template fails for that
// order, a bug) lands on <topic>.dlq with the reason, the rest flows on;
// after the fix, `notifier dlq replay` puts it back and it is delivered.
func TestPoisonDeadLetterReplayKafka(t *testing.T) {
	testPoisonDeadLetterReplay(t, kafkaBroker(t))
}

// On JetStream a republished ce_id is dropped (and acknowledged) within the
// stream's duplicate window (2 minutes), and the replay here comes within
// seconds of the original publication: it must get through all the same.
func TestPoisonDeadLetterReplayNATS(t *testing.T) {
	testPoisonDeadLetterReplay(t, natsBroker(t))
}

func testPoisonDeadLetterReplay(t *testing.T, broker stream.Broker) {
	mp := testenv.Mailpit(t)
	users := startUsers(t)
	cfg := pipelineConfig(users, mp, db.Postgres, testenv.Postgres(t))
	ctx := context.Background()

	broken := func(k channel.Kind, ev any, name, locale string) (channel.Content, error) {
		if o, ok := ev.(events.OrderCreated); ok && o.OrderID == "ord-poison" {
			return channel.Content{}, errors.New("template: no such currency layout")
		}
		return RenderLocalized(k, ev, name, locale)
	}
	stop, base := startRunDeps(t, cfg, Deps{Broker: broker, Render: broken})

	to := uniqueAddress("poison")
	uid := users.register(t, "Linus", to, "", true, false)
	poison := orderMessage(t, cfg.Topic, uid, "ord-poison")
	publisher(t, broker)(poison, orderMessage(t, cfg.Topic, uid, "ord-after"))
	msgs := waitMail(t, mp, to, 1)
	if len(msgs) != 1 || msgs[0].Subject != "Order ord-after confirmed" {
		t.Fatalf("the message behind the poison: %+v", msgs)
	}
	dl := readOne(t, broker, cfg.Topic+events.DeadLetterSuffix)
	if dl.Header(events.HeaderID) != poison.Header(events.HeaderID) || dl.Header(HeaderDeadLetterTopic) != cfg.Topic ||
		!strings.Contains(dl.Header(events.HeaderDeadLetterReason), "no such currency layout") || dl.Header(HeaderDeadLetterAt) == "" {
		t.Fatalf("dead letter headers: %v", dl.Headers)
	}
	_, metrics := httpGet(t, base+"/metrics")
	if v := metricValue(metrics, MetricDeadLetters, `topic="`+cfg.Topic+`"`); v != 1 {
		t.Errorf("%s = %v, want 1", MetricDeadLetters, v)
	}
	stop()

	// A replay before the fix: the event fails again and must come back to
	// the dead-letter topic (on NATS, within the duplicate window of its
	// first dead-lettering, under the same ce_id).
	stop, base = startRunDeps(t, cfg, Deps{Broker: broker, Render: broken})
	group := uniqueName("replay")
	res, err := ReplayDLQ(ctx, broker, ReplayOptions{Topic: cfg.Topic, Group: group}, testLogger(t))
	if want := (ReplayResult{Replayed: 1}); err != nil || res != want {
		t.Fatalf("ReplayDLQ before the fix = %+v, %v; want %+v", res, err, want)
	}
	testwait.For(t, "the replayed poison dead-lettered again", func() bool {
		_, metrics := httpGet(t, base+"/metrics")
		return metricValue(metrics, MetricDeadLetters, `topic="`+cfg.Topic+`"`) == 1
	})
	stop()

	// The fix is deployed; replay the dead letters. The same group finds
	// only the one dead-lettered again.
	stop, _ = startRunDeps(t, cfg, Deps{Broker: broker})
	defer stop()
	if _, err := time.Parse(time.RFC3339Nano, dl.Header(HeaderDeadLetterAt)); err != nil {
		t.Fatal(err)
	}
	res, err = ReplayDLQ(ctx, broker, ReplayOptions{Topic: cfg.Topic, Group: group}, testLogger(t))
	if want := (ReplayResult{Replayed: 1, Skipped: 1}); err != nil || res != want {
		t.Fatalf("ReplayDLQ after the fix = %+v, %v; want %+v (the first dead letter was replayed before)", res, err, want)
	}
	msgs = waitMail(t, mp, to, 2)
	subjects := map[string]int{}
	for _, m := range msgs {
		subjects[m.Subject]++
	}
	if len(msgs) != 2 || subjects["Order ord-poison confirmed"] != 1 || subjects["Order ord-after confirmed"] != 1 {
		t.Fatalf("after replay: %+v", subjects)
	}
	// The same replay group again finds nothing new: what it replayed is
	// committed on the dead-letter topic. A fresh group would see it again
	// (-limit 1 stops after one).
	res, err = ReplayDLQ(ctx, broker, ReplayOptions{Topic: cfg.Topic, Group: group}, testLogger(t))
	if want := (ReplayResult{Skipped: 2}); err != nil || res != want {
		t.Errorf("another replay with the same group = %+v, %v; want %+v", res, err, want)
	}
	res, err = ReplayDLQ(ctx, broker, ReplayOptions{Topic: cfg.Topic, Group: uniqueName("replay"), Limit: 1}, testLogger(t))
	if want := (ReplayResult{Replayed: 1, Left: 1}); err != nil || res != want {
		t.Errorf("a new group with -limit 1 = %+v, %v; want %+v", res, err, want)
	}
}

// Two notifier instances in one consumer group over one PostgreSQL
// database: the partitions are shared and every order's email is sent
// exactly once, with exactly one PENDING and one SENT event each.
func TestTwoInstancesOneGroupKafka(t *testing.T) {
	mp := testenv.Mailpit(t)
	broker, users, cfg, statuses := newPipeline(t, mp)
	stopA, _ := startRunDeps(t, cfg, Deps{Broker: broker})
	defer stopA()
	stopB, _ := startRunDeps(t, cfg, Deps{Broker: broker})
	defer stopB()

	const usersN, ordersPerUser = 6, 5
	addrs := make([]string, usersN)
	var msgs []stream.Message
	for i := range usersN {
		addrs[i] = uniqueAddress(fmt.Sprintf("twin%d", i))
		uid := users.register(t, "Twin", addrs[i], "", true, false)
		for j := range ordersPerUser {
			msgs = append(msgs, orderMessage(t, cfg.Topic, uid, fmt.Sprintf("ord-twin-%d-%d", i, j)))
		}
	}
	publisher(t, broker)(msgs...)
	for i, a := range addrs {
		got := waitMail(t, mp, a, ordersPerUser)
		seen := map[string]int{}
		for _, m := range got {
			seen[m.Subject]++
		}
		for j := range ordersPerUser {
			if n := seen[fmt.Sprintf("Order ord-twin-%d-%d confirmed", i, j)]; n != 1 {
				t.Errorf("user %d order %d: %d emails, want 1", i, j, n)
			}
		}
		if len(got) != ordersPerUser {
			t.Errorf("user %d: %d emails, want %d", i, len(got), ordersPerUser)
		}
	}
	for i := range usersN {
		for j := range ordersPerUser {
			id := fmt.Sprintf("ord-twin-%d-%d", i, j)
			got := statuses.waitFor(t, id, events.StatusSent)
			if len(got) != 2 || got[0].Status != events.StatusPending || got[1].Status != events.StatusSent {
				t.Errorf("%s statuses = %+v, want PENDING, SENT", id, got)
			}
		}
	}
}
