package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/inboxevent"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/subgraphs/users"
)

type consumerFixture struct {
	client *entnotifier.Client
	users  *usersService
	dlq    *recordingPublisher
	c      *Consumer
	wakes  int
}

func newConsumerFixture(t *testing.T, client *entnotifier.Client) *consumerFixture {
	f := &consumerFixture{client: client, users: startUsers(t), dlq: &recordingPublisher{}}
	f.c = &Consumer{
		DB: client, Users: NewUsersClient(f.users.URL, &http.Client{Timeout: 10 * time.Second}),
		DLQ: f.dlq, Logger: testLogger(t), Wake: func() { f.wakes++ },
		Status:    statusEvents{Topic: "NotificationStatus", Source: StatusSource},
		Available: map[string]bool{"email": true},
	}
	return f
}

func (f *consumerFixture) deliveries(t *testing.T, eventID string) []*entnotifier.Delivery {
	t.Helper()
	ds, err := f.client.Delivery.Query().Where(delivery.EventID(eventID)).Order(delivery.ByChannel()).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func (f *consumerFixture) inboxed(t *testing.T, eventID string) bool {
	t.Helper()
	ok, err := f.client.InboxEvent.Query().Where(inboxevent.EventID(eventID)).Exist(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestConsumerSQLite(t *testing.T) {
	client, _ := openSQLite(t)
	testConsumer(t, client)
}

func testConsumer(t *testing.T, client *entnotifier.Client) {
	f := newConsumerFixture(t, client)
	ctx := context.Background()
	const topic = "OrderCreated"

	t.Run("email enabled: one pending email, rendered", func(t *testing.T) {
		uid := f.users.register(t, "Ada", "ada@example.com", "", true, false)
		m := orderMessage(t, topic, uid, "ord-1")
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		id := m.Header(events.HeaderID)
		ds := f.deliveries(t, id)
		if len(ds) != 1 {
			t.Fatalf("got %d deliveries, want 1", len(ds))
		}
		d := ds[0]
		if d.Channel != email.Name || d.Status != delivery.StatusPENDING || d.Recipient != "ada@example.com" ||
			d.Subject != "Order ord-1 confirmed" || !strings.Contains(d.Body, "ord-1") || !strings.Contains(d.HTMLBody, "ord-1") {
			t.Errorf("delivery = %+v", d)
		}
		if !f.inboxed(t, id) {
			t.Error("event not in inbox")
		}
		// Its first status, PENDING, is in the history and in the outbox,
		// committed with the row.
		hist, err := StatusHistory(ctx, f.client, d.ID)
		if err != nil || len(hist) != 1 || hist[0].Status != "PENDING" || hist[0].FromStatus != "NONE" {
			t.Errorf("status history = %v, %v; want one PENDING", hist, err)
		}
		if len(hist) == 1 {
			ob, err := f.client.OutboxEvent.Get(ctx, hist[0].ID.String())
			if err != nil || ob.Topic != "NotificationStatus" || ob.Key != "ord-1" || !strings.Contains(string(ob.Payload), `"status":"PENDING"`) {
				t.Errorf("outbox row = %+v, %v", ob, err)
			}
		}

		// The same event again changes nothing.
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		if n := len(f.deliveries(t, id)); n != 1 {
			t.Errorf("after redelivery: %d deliveries, want 1", n)
		}
	})

	t.Run("cancellation: its own notification, same gate, exactly once", func(t *testing.T) {
		c := *f.c
		c.Available = map[string]bool{"email": true, "sms": true}
		uid := f.users.register(t, "Gil", "gil@example.com", "+4915112345679", true, true)
		created := orderMessage(t, topic, uid, "ord-cx")
		if err := c.Handle(ctx, created); err != nil {
			t.Fatal(err)
		}
		cancelled := cancelMessage(t, "OrderCancelled", uid, "ord-cx")
		// Handled twice: a redelivery of the same cancellation adds nothing.
		for range 2 {
			if err := c.Handle(ctx, cancelled); err != nil {
				t.Fatal(err)
			}
		}
		id := cancelled.Header(events.HeaderID)
		ds := f.deliveries(t, id)
		if len(ds) != 2 {
			t.Fatalf("cancellation: %d deliveries, want email and sms", len(ds))
		}
		mail, text := ds[0], ds[1]
		if mail.Channel != email.Name || mail.Status != delivery.StatusPENDING || mail.EventType != events.TypeOrderCancelled ||
			mail.Subject != "Order ord-cx cancelled" || !strings.Contains(mail.Body, "Reason given: ordered twice") {
			t.Errorf("cancellation email = %+v", mail)
		}
		if text.Channel != sms.Name || text.Body != "Herald: your order ord-cx (EUR 2,024.99) has been cancelled." {
			t.Errorf("cancellation sms = %q (%s)", text.Body, text.Channel)
		}
		// The order's confirmation is a different notification, untouched.
		if cd := f.deliveries(t, created.Header(events.HeaderID)); len(cd) != 2 || cd[0].ID == mail.ID || cd[0].Subject != "Order ord-cx confirmed" {
			t.Errorf("confirmation deliveries = %+v", cd)
		}
		// Its status event says what it is about.
		hist, err := StatusHistory(ctx, f.client, mail.ID)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history = %v, %v", hist, err)
		}
		ob, err := f.client.OutboxEvent.Get(ctx, hist[0].ID.String())
		if err != nil {
			t.Fatal(err)
		}
		var ev events.NotificationStatus
		if err := json.Unmarshal(ob.Payload, &ev); err != nil || ev.Event != events.EventOrderCancelled ||
			ev.EventID != id || ev.NotificationID != mail.ID.String() || ev.Status != events.StatusPending {
			t.Errorf("status event = %+v, %v; want PENDING about ORDER_CANCELLED", ev, err)
		}
	})

	t.Run("email disabled: recorded, nothing to send", func(t *testing.T) {
		uid := f.users.register(t, "Bob", "bob@example.com", "", false, false)
		m := orderMessage(t, topic, uid, "ord-2")
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		if ds := f.deliveries(t, m.Header(events.HeaderID)); len(ds) != 0 {
			t.Errorf("got %d deliveries, want none", len(ds))
		}
		if !f.inboxed(t, m.Header(events.HeaderID)) {
			t.Error("event not in inbox")
		}
	})

	t.Run("sms enabled without phone: skipped with reason", func(t *testing.T) {
		uid := f.users.register(t, "Cy", "cy@example.com", "", true, true)
		m := orderMessage(t, topic, uid, "ord-3")
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		ds := f.deliveries(t, m.Header(events.HeaderID))
		if len(ds) != 2 || ds[1].Channel != sms.Name || ds[1].Status != delivery.StatusSKIPPED || ds[1].LastError != sms.Kind.NoAddressReason() {
			t.Errorf("deliveries = %+v", ds)
		}
	})

	t.Run("sms text in the user's language, English as fallback", func(t *testing.T) {
		c := *f.c
		c.Available = map[string]bool{"email": true, "sms": true}
		tests := []struct {
			locale string // "" leaves the users service's default
			want   string
		}{
			{"de-DE", "Herald: Ihre Bestellung ord-sms-de-DE ist bestätigt. Summe EUR 2.024,99."},
			{"de-AT", "Herald: Ihre Bestellung ord-sms-de-AT ist bestätigt. Summe EUR 2.024,99."},
			{"fr-CA", "Herald : votre commande ord-sms-fr-CA est confirmée. Total EUR 2 024,99."},
			{"ja-JP", "Herald: your order ord-sms-ja-JP is confirmed. Total EUR 2,024.99."},
			{"", "Herald: your order ord-sms- is confirmed. Total EUR 2,024.99."},
		}
		for i, tc := range tests {
			uid := f.users.register(t, "Sam", fmt.Sprintf("sam%d@example.com", i), "+4915112345678", false, true)
			if tc.locale != "" {
				f.users.update(t, uid, map[string]any{"preferences": map[string]any{"locale": tc.locale}})
			}
			m := orderMessage(t, topic, uid, "ord-sms-"+tc.locale)
			if err := c.Handle(ctx, m); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, m.Header(events.HeaderID))
			if len(ds) != 1 || ds[0].Channel != sms.Name || ds[0].Status != delivery.StatusPENDING {
				t.Fatalf("locale %q: deliveries = %+v, want one pending SMS", tc.locale, ds)
			}
			if ds[0].Body != tc.want || (tc.locale != "" && ds[0].Locale != tc.locale) {
				t.Errorf("locale %q: sms body %q (row locale %q), want %q", tc.locale, ds[0].Body, ds[0].Locale, tc.want)
			}
		}
	})

	t.Run("quiet hours: deferred to the window's end, with a DEFERRED event", func(t *testing.T) {
		// A users service where no category is critical, so quiet hours apply.
		relaxed := startUsersWith(t, func(c *users.Config) { c.CriticalCategories = []string{} })
		uid := relaxed.register(t, "Dee", "dee@example.com", "", true, false)
		// A window that always contains now: from the current minute (UTC)
		// to 23h later.
		now := time.Now().UTC()
		start := now.Format("15:04")
		end := now.Add(23 * time.Hour).Format("15:04")
		relaxed.update(t, uid, map[string]any{"preferences": map[string]any{
			"quietHours": map[string]any{"start": start, "end": end, "timeZone": "UTC"},
		}})
		m := orderMessage(t, topic, uid, "ord-quiet")
		c := *f.c
		c.Users = NewUsersClient(relaxed.URL, &http.Client{Timeout: 10 * time.Second})
		c.Now = func() time.Time { return now }
		if err := c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		ds := f.deliveries(t, m.Header(events.HeaderID))
		if len(ds) != 1 {
			t.Fatalf("got %d deliveries, want 1", len(ds))
		}
		d := ds[0]
		wantDue, _ := QuietHours{Start: start, End: end, TimeZone: "UTC"}.windowEnd(now)
		if d.Critical {
			t.Fatal("ORDER_UPDATES is critical although the users service was configured with none")
		}
		if d.Status != delivery.StatusDEFERRED || !d.NextAttemptAt.Equal(wantDue) || wantDue.IsZero() {
			t.Fatalf("delivery = %s due %v, want DEFERRED due %v", d.Status, d.NextAttemptAt, wantDue)
		}
		hist, err := StatusHistory(ctx, f.client, d.ID)
		if err != nil || len(hist) != 1 || hist[0].Status != "DEFERRED" || hist[0].NextAttemptAt == nil || !hist[0].NextAttemptAt.Equal(wantDue) {
			t.Errorf("history = %+v, %v", hist, err)
		}
	})

	t.Run("deleted user: recorded, nothing sent", func(t *testing.T) {
		uid := f.users.register(t, "Eve", "eve@example.com", "", true, false)
		f.users.delete(t, uid)
		m := orderMessage(t, topic, uid, "ord-deleted")
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		if !f.inboxed(t, m.Header(events.HeaderID)) || len(f.deliveries(t, m.Header(events.HeaderID))) != 0 {
			t.Error("want inbox row and no deliveries")
		}
	})

	t.Run("unknown user: recorded without deliveries", func(t *testing.T) {
		m := orderMessage(t, topic, "00000000-0000-0000-0000-000000000000", "ord-4")
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		if !f.inboxed(t, m.Header(events.HeaderID)) || len(f.deliveries(t, m.Header(events.HeaderID))) != 0 {
			t.Error("want inbox row and no deliveries")
		}
	})

	t.Run("concurrent duplicate: unique inbox row wins", func(t *testing.T) {
		order := sampleOrder()
		plans := func() []newDelivery {
			return []newDelivery{{row: &entnotifier.Delivery{ID: uuid.New(), EventID: "evt-concurrent", OrderID: order.OrderID, UserID: order.UserID,
				Channel: email.Name, Recipient: "x@example.com", Status: delivery.StatusPENDING, NextAttemptAt: time.Now().UTC()}}}
		}
		item := func() []batchItem {
			return []batchItem{{m: stream.Message{Topic: topic}, ev: orderEvent{env: events.Envelope{ID: "evt-concurrent"}}, rows: plans()}}
		}
		if err := f.c.recordAll(ctx, item(), time.Now().UTC()); err != nil {
			t.Fatalf("first record = %v; want nil", err)
		}
		if err := f.c.recordAll(ctx, item(), time.Now().UTC()); !errors.Is(err, errRecorded) {
			t.Fatalf("second record = %v; want errRecorded", err)
		}
		if n := len(f.deliveries(t, "evt-concurrent")); n != 1 {
			t.Errorf("%d deliveries, want 1", n)
		}
	})

	t.Run("users service down: error, nothing recorded", func(t *testing.T) {
		down := "http://" + refusedAddr(t) + "/graphql"
		c := *f.c
		c.Users = NewUsersClient(down, &http.Client{Timeout: 5 * time.Second})
		m := orderMessage(t, topic, "someone", "ord-5")
		if err := c.Handle(ctx, m); err == nil {
			t.Fatal("Handle returned nil while the users service is down: the event would be skipped")
		}
		if f.inboxed(t, m.Header(events.HeaderID)) {
			t.Error("event recorded although it was not processed")
		}
		// Once the service is back the same message is processed.
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		if !f.inboxed(t, m.Header(events.HeaderID)) {
			t.Error("event not recorded after the users service came back")
		}
	})

	t.Run("poison messages go to the dead-letter topic", func(t *testing.T) {
		good := orderMessage(t, topic, "u", "ord-6")
		noItems := orderMessage(t, topic, "u", "ord-7")
		noItems.Value = []byte(`{"orderId":"ord-7","userId":"u","items":[],"currency":"EUR"}`)
		tests := []struct {
			name   string
			msg    stream.Message
			reason string
		}{
			{"not json", stream.Message{Topic: topic, Key: "k", Headers: good.Headers, Value: []byte("garbage")}, "data is not a valid"},
			{"no ce headers", stream.Message{Topic: topic, Key: "k", Value: good.Value}, "ce_specversion"},
			{"invalid order", noItems, "items is empty"},
			{"invalid cancellation", func() stream.Message {
				m := cancelMessage(t, topic, "u", "ord-8")
				m.Value = []byte(`{"orderId":"ord-8","userId":"u","currency":"EUR"}`)
				return m
			}(), "cancelledAt is missing"},
			{"unknown type", func() stream.Message {
				m := orderMessage(t, topic, "u", "ord-9")
				for i := range m.Headers {
					if m.Headers[i].Key == events.HeaderType {
						m.Headers[i].Value = "io.herald.order.shipped.v1"
					}
				}
				return m
			}(), `want "` + events.TypeOrderCreated + `"`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.dlq.published())
				if err := f.c.Handle(ctx, tc.msg); err != nil {
					t.Fatalf("Handle = %v, want nil (dead-lettered)", err)
				}
				pub := f.dlq.published()
				if len(pub) != before+1 {
					t.Fatalf("published %d dead letters, want 1", len(pub)-before)
				}
				dl := pub[len(pub)-1]
				if dl.Topic != topic+".dlq" || string(dl.Value) != string(tc.msg.Value) || dl.Key != tc.msg.Key ||
					!strings.Contains(dl.Header(events.HeaderDeadLetterReason), tc.reason) {
					t.Errorf("dead letter = %+v (reason %q), want reason containing %q", dl, dl.Header(events.HeaderDeadLetterReason), tc.reason)
				}
				for _, h := range tc.msg.Headers {
					if dl.Header(h.Key) != h.Value {
						t.Errorf("dead letter lost header %s", h.Key)
					}
				}
			})
		}
		// A dead-letter topic that cannot be reached must not lose the message.
		f.dlq.err = errors.New("broker down")
		defer func() { f.dlq.err = nil }()
		if err := f.c.Handle(ctx, stream.Message{Topic: topic, Value: []byte("x")}); err == nil {
			t.Error("Handle returned nil although the dead letter was not published")
		}
	})
}

// directoryProbe counts the lookups per user of the directory it wraps and
// runs before, when set, ahead of each: an error from it fails the lookup.
type directoryProbe struct {
	UserDirectory
	mu     sync.Mutex
	calls  map[string]int
	before func(ctx context.Context, userID string) error
}

func (p *directoryProbe) Policy(ctx context.Context, userID, category string) (Policy, error) {
	p.mu.Lock()
	p.calls[userID]++
	before := p.before
	p.mu.Unlock()
	if before != nil {
		if err := before(ctx, userID); err != nil {
			return Policy{}, err
		}
	}
	return p.UserDirectory.Policy(ctx, userID, category)
}

func (p *directoryProbe) count(userID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[userID]
}

// TestConsumerBatchPostgres drives HandleBatch directly: one transaction
// for the batch, one users lookup per user, poison dead-lettered alone, and
// the index of the first event that must be retried.
func TestConsumerBatchPostgres(t *testing.T) {
	client, _ := openDB(t, db.Postgres, testenv.Postgres(t))
	f := newConsumerFixture(t, client)
	probe := &directoryProbe{UserDirectory: f.c.Users, calls: map[string]int{}}
	c := *f.c
	c.Users = probe
	ctx := t.Context()
	const topic = "OrderCreated"
	ada := f.users.register(t, "Ada", "ada.batch@example.com", "", true, false)
	bob := f.users.register(t, "Bob", "bob.batch@example.com", "", true, false)
	wantDeliveries := func(t *testing.T, want int, msgs ...stream.Message) {
		t.Helper()
		for _, m := range msgs {
			id := m.Header(events.HeaderID)
			if n := len(f.deliveries(t, id)); n != want {
				t.Errorf("event %s: %d deliveries, want %d", id, n, want)
			}
			if f.inboxed(t, id) != (want > 0) {
				t.Errorf("event %s: inboxed %v, want %v", id, !(want > 0), want > 0)
			}
		}
	}

	t.Run("one lookup per user, a duplicate and a poison message in the middle", func(t *testing.T) {
		e1, e2, e3 := orderMessage(t, topic, ada, "b-1"), orderMessage(t, topic, bob, "b-2"), orderMessage(t, topic, ada, "b-3")
		poison := stream.Message{Topic: topic, Key: ada, Headers: e1.Headers, Value: []byte("garbage")}
		batch := []stream.Message{e1, e2, poison, e3, e1}
		dlqBefore := len(f.dlq.published())
		if done, err := c.HandleBatch(ctx, batch); done != len(batch) || err != nil {
			t.Fatalf("HandleBatch = %d, %v; want %d, nil", done, err, len(batch))
		}
		wantDeliveries(t, 1, e1, e2, e3)
		if got := probe.count(ada); got != 1 {
			t.Errorf("%d lookups of a user with two events in the batch, want 1", got)
		}
		dl := f.dlq.published()[dlqBefore:]
		if len(dl) != 1 || string(dl[0].Value) != "garbage" {
			t.Errorf("dead letters %v, want the poison message once", dl)
		}
		// Redelivered (a crash before the offsets were committed): nothing
		// new, and the users service is not asked again.
		if done, err := c.HandleBatch(ctx, batch); done != len(batch) || err != nil {
			t.Fatalf("redelivered HandleBatch = %d, %v; want %d, nil", done, err, len(batch))
		}
		wantDeliveries(t, 1, e1, e2, e3)
		if got := probe.count(ada); got != 1 {
			t.Errorf("%d lookups after a redelivery of recorded events, want still 1", got)
		}
	})

	t.Run("a failed lookup: the events before it are recorded, its index returned", func(t *testing.T) {
		carl := f.users.register(t, "Carl", "carl.batch@example.com", "", true, false)
		probe.before = func(_ context.Context, userID string) error {
			if userID == carl {
				return errors.New("users service unavailable")
			}
			return nil
		}
		defer func() { probe.before = nil }()
		batch := []stream.Message{orderMessage(t, topic, ada, "f-1"), orderMessage(t, topic, carl, "f-2"), orderMessage(t, topic, ada, "f-3")}
		if done, err := c.HandleBatch(ctx, batch); done != 1 || err == nil {
			t.Fatalf("HandleBatch = %d, %v; want 1 and the lookup error", done, err)
		}
		wantDeliveries(t, 1, batch[0])
		wantDeliveries(t, 0, batch[1:]...)
		probe.before = nil
		if done, err := c.HandleBatch(ctx, batch[1:]); done != 2 || err != nil {
			t.Fatalf("retried HandleBatch = %d, %v; want 2, nil", done, err)
		}
		wantDeliveries(t, 1, batch...)
	})

	t.Run("a batch transaction that fails is recorded event by event", func(t *testing.T) {
		dan := f.users.register(t, "Dan", "dan.batch@example.com", "", true, false)
		batch := []stream.Message{orderMessage(t, topic, ada, "c-1"), orderMessage(t, topic, dan, "c-2"), orderMessage(t, topic, ada, "c-3")}
		// Another member records c-2 between the inbox check and the
		// insert (as during a rebalance): the batch's insert fails on the
		// unique inbox row.
		probe.before = func(ctx context.Context, userID string) error {
			if userID != dan {
				return nil
			}
			return client.InboxEvent.Create().SetEventID(batch[1].Header(events.HeaderID)).SetTopic(topic).
				SetReceivedAt(time.Now().UTC()).Exec(ctx)
		}
		defer func() { probe.before = nil }()
		if done, err := c.HandleBatch(ctx, batch); done != len(batch) || err != nil {
			t.Fatalf("HandleBatch = %d, %v; want %d, nil", done, err, len(batch))
		}
		wantDeliveries(t, 1, batch[0], batch[2])
		if n := len(f.deliveries(t, batch[1].Header(events.HeaderID))); n != 0 {
			t.Errorf("the event recorded elsewhere got %d deliveries here, want 0", n)
		}
	})
}

// TestConsumerBatchCrashKafka consumes in batches from real Kafka, crashes
// after the first batch's transaction committed and before its offsets
// were, and checks that the next member records every event exactly once.
func TestConsumerBatchCrashKafka(t *testing.T) {
	broker := kafkaBroker(t)
	client, _ := openDB(t, db.Postgres, testenv.Postgres(t))
	f := newConsumerFixture(t, client)
	f.c.Wake = nil // partitions are handled concurrently; f.wakes is not guarded
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	topic, group := uniqueName("OrderCreated"), uniqueName("notifier-batch")
	var msgs []stream.Message
	ids := map[string]bool{}
	for i := range 3 {
		uid := f.users.register(t, fmt.Sprintf("User %d", i), fmt.Sprintf("crash%d.%s@example.com", i, uuid.NewString()[:6]), "", true, false)
		for j := range 4 {
			m := orderMessage(t, topic, uid, fmt.Sprintf("k-%d-%d", i, j))
			if j == 2 {
				m.Value = []byte("garbage") // poison in the middle of its partition
			}
			msgs = append(msgs, m)
			ids[m.Header(events.HeaderID)] = true
		}
	}
	publisher(t, broker, topic)(msgs...)

	consume := func(h stream.BatchHandler) (stop func()) {
		c := streamtest.StartConsuming(t, broker, topic, group, func(ctx context.Context, sub stream.Subscriber) error {
			return sub.ConsumeBatches(ctx, h)
		})
		return func() { c.Stop(t) }
	}

	// First member: the first batch commits its transaction, then the
	// member dies before acknowledging anything.
	crashed := make(chan int, 1)
	stop := consume(func(ctx context.Context, batch []stream.Message) (int, error) {
		if _, err := f.c.HandleBatch(ctx, batch); err != nil {
			return 0, err
		}
		select {
		case crashed <- len(batch):
		default:
		}
		return 0, errors.New("simulated crash after the commit, before the offsets")
	})
	var first int
	select {
	case first = <-crashed:
	case <-ctx.Done():
		t.Fatal("no batch handled before the deadline")
	}
	stop()
	if first < 2 {
		t.Errorf("the first batch held %d message(s); the records were all published before consuming, want several", first)
	}

	// Second member of the same group: everything again from the start.
	var mu sync.Mutex
	seen := map[string]bool{}
	all := make(chan struct{})
	stop = consume(func(ctx context.Context, batch []stream.Message) (int, error) {
		done, err := f.c.HandleBatch(ctx, batch)
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch[:done] {
			seen[m.Header(events.HeaderID)] = true
		}
		if len(seen) == len(ids) {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		return done, err
	})
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatal("the second member did not handle every message before the deadline")
	}
	stop()

	for i, m := range msgs {
		id := m.Header(events.HeaderID)
		want := 1
		if i%4 == 2 {
			want = 0 // the poison message
		}
		if n := len(f.deliveries(t, id)); n != want {
			t.Errorf("message %d: %d deliveries, want %d", i, n, want)
		}
	}
	dead := map[string]bool{}
	for _, dl := range f.dlq.published() {
		dead[dl.Header(events.HeaderID)] = true
	}
	for i := 2; i < len(msgs); i += 4 {
		if !dead[msgs[i].Header(events.HeaderID)] {
			t.Errorf("poison message %d was not dead-lettered", i)
		}
	}
}
