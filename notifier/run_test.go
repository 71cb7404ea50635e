package notifier

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/inboxevent"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testrun"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/notifier/channel/email"
)

func TestRunNATS(t *testing.T) {
	eachDB(t, func(t *testing.T, driver, dsn string) {
		testRun(t, natsBroker(t), driver, dsn)
	})
}

// Kafka is the primary backend; unlike JetStream it does not drop a
// republished ce_id, so here the duplicate reaches the consumer's inbox check.
func TestRunKafka(t *testing.T) {
	testRun(t, kafkaBroker(t), db.SQLite, filepath.Join(t.TempDir(), "notifier.db"))
}

// testRun drives the whole service through a real broker, the real users
// service and a real SMTP relay (mailpit, STARTTLS required).
func testRun(t *testing.T, broker stream.Broker, driver, dsn string) {
	mp := testenv.Mailpit(t)
	users := startUsers(t)
	topic := uniqueName("OrderCreated")
	cfg := Config{
		HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: driver, DSN: dsn},
		UsersURL: users.URL, UsersTimeout: 5 * time.Second,
		Topic: topic, StatusTopic: uniqueName("NotificationStatus"), Group: uniqueName("herald-notifier"),
		Channels: Channels{email.Name: mailpitEmail(mp)},
		Workers:  2, Poll: 500 * time.Millisecond, Lease: time.Minute,
		Backoff: Backoff{Base: 100 * time.Millisecond, Max: time.Second},
	}

	stop, base := startRunDeps(t, cfg, Deps{Broker: broker})

	publish := publisher(t, broker)
	subjects := func(msgs []testenv.MailMessage) []string {
		var s []string
		for _, m := range msgs {
			s = append(s, m.Subject)
		}
		return s
	}

	// One order → exactly one email naming the order; the same event again
	// (redelivery) → still one. The second order on the same key is the
	// marker: per-key order means the duplicate was handled before it.
	adaMail := uniqueAddress("ada")
	ada := users.register(t, "Ada Lovelace", adaMail, "", true, false)
	first := orderMessage(t, topic, ada, "ord-e2e-1")
	publish(first)
	got := waitMail(t, mp, adaMail, 1)
	if len(got) != 1 || got[0].Subject != "Order ord-e2e-1 confirmed" || !strings.Contains(got[0].Text, "ord-e2e-1") {
		t.Fatalf("after one order: %d messages %v", len(got), subjects(got))
	}
	publish(first)
	publish(orderMessage(t, topic, ada, "ord-e2e-2"))
	got = waitMail(t, mp, adaMail, 2)
	counts := map[string]int{}
	for _, m := range got {
		counts[m.Subject]++
	}
	if len(got) != 2 || counts["Order ord-e2e-1 confirmed"] != 1 || counts["Order ord-e2e-2 confirmed"] != 1 {
		t.Fatalf("after a duplicate and a second order: %v", subjects(got))
	}

	// Email disabled → the event is recorded and nothing is sent.
	bobMail := uniqueAddress("bob")
	bob := users.register(t, "Bob", bobMail, "", false, false)
	bobEvent := orderMessage(t, topic, bob, "ord-e2e-3")
	publish(bobEvent)
	client, _ := openDB(t, driver, dsn)
	testwait.For(t, "bob's event in the inbox", func() bool {
		ok, err := client.InboxEvent.Query().Where(inboxevent.EventID(bobEvent.Header(events.HeaderID))).Exist(context.Background())
		return err == nil && ok
	})
	if n, err := client.Delivery.Query().Where(delivery.EventID(bobEvent.Header(events.HeaderID))).Count(context.Background()); err != nil || n != 0 {
		t.Errorf("bob has %d deliveries (err %v), want none", n, err)
	}
	if msgs, err := mp.Messages(context.Background(), bobMail); err != nil || len(msgs) != 0 {
		t.Errorf("bob got %d emails (err %v), want none", len(msgs), err)
	}

	// A garbage message lands on <topic>.dlq with the reason, and the next
	// good message behind it on the same key still produces its email.
	carolMail := uniqueAddress("carol")
	carol := users.register(t, "Carol", carolMail, "", true, false)
	garbage := stream.Message{Topic: topic, Key: carol, Value: []byte("not an event"),
		Headers: []stream.Header{{Key: "x-test", Value: "garbage"}}}
	publish(garbage, orderMessage(t, topic, carol, "ord-e2e-4"))
	got = waitMail(t, mp, carolMail, 1)
	if len(got) != 1 || got[0].Subject != "Order ord-e2e-4 confirmed" {
		t.Fatalf("carol's order after a garbage message: %v", subjects(got))
	}
	dl := readOne(t, broker, topic+events.DeadLetterSuffix)
	if string(dl.Value) != "not an event" || dl.Key != carol || dl.Header("x-test") != "garbage" ||
		!strings.Contains(dl.Header(events.HeaderDeadLetterReason), "ce_specversion") {
		t.Errorf("dead letter = key %q value %q headers %v", dl.Key, dl.Value, dl.Headers)
	}

	// The consumer lag comes from the broker (kadm for Kafka, consumer info
	// for JetStream): everything above was handled, so it drains to 0.
	testwait.For(t, "consumer lag 0 in /metrics", func() bool {
		_, m := httpGet(t, base+"/metrics")
		return metricValue(m, MetricConsumerLag, `group="`+cfg.Group+`"`) == 0
	})
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}

	// Replaying the whole topic (a new consumer group, as after an offset
	// reset) into the same database sends nothing again: the inbox dedupes.
	// A new order on ada's key marks the end of her replayed events.
	stop()
	cfg.Group = uniqueName("herald-notifier-replay")
	stop = startRun(t, cfg, broker)
	publish(orderMessage(t, topic, ada, "ord-e2e-5"))
	got = waitMail(t, mp, adaMail, 3)
	counts = map[string]int{}
	for _, m := range got {
		counts[m.Subject]++
	}
	if len(got) != 3 || counts["Order ord-e2e-1 confirmed"] != 1 || counts["Order ord-e2e-5 confirmed"] != 1 {
		t.Fatalf("after replaying the topic: %v", subjects(got))
	}
	if got := waitMail(t, mp, carolMail, 1); len(got) != 1 {
		t.Errorf("carol has %d emails after the replay, want 1", len(got))
	}
	stop()
}

// startRun runs the notifier until the returned stop is called (or the test
// ends) and waits until /healthz answers.
func startRun(t *testing.T, cfg Config, broker stream.Broker) (stop func()) {
	stop, _ = startRunDeps(t, cfg, Deps{Broker: broker})
	return stop
}

// startRunDeps is startRun with explicit Deps; it also returns the base URL
// of the notifier's HTTP server.
func startRunDeps(t *testing.T, cfg Config, deps Deps) (stop func(), baseURL string) {
	t.Helper()
	deps.Logger = testLogger(t)
	s := testrun.Start(t, "notifier", func(ctx context.Context, ready func(net.Addr)) error {
		deps.HTTPReady = ready
		return Run(ctx, cfg, deps)
	})
	waitHealthy(t, s.URL()+"/healthz")
	return func() { s.Stop(t) }, s.URL()
}

// readOne consumes the first message of topic with a fresh group.
func readOne(t *testing.T, broker stream.Broker, topic string) stream.Message {
	t.Helper()
	got := make(chan stream.Message, 1)
	c := streamtest.StartConsumer(t, broker, topic, uniqueName("dlq-reader"), func(_ context.Context, m stream.Message) error {
		select {
		case got <- m:
		default:
		}
		return nil
	})
	defer c.Stop(t)
	select {
	case m := <-got:
		return m
	case <-time.After(60 * time.Second):
		t.Fatalf("no message on %s within 60s", topic)
	}
	return stream.Message{}
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	testwait.For(t, url+" answering 200", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
