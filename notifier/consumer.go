package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/inboxevent"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/stream"
)

// Dead-letter headers added to a message on <topic>.dlq.
const (
	// HeaderDeadLetterTopic is the topic the message was consumed from;
	// `notifier dlq replay` republishes it there.
	HeaderDeadLetterTopic = "herald_dlq_topic"
	// HeaderDeadLetterAt is when it was dead-lettered (RFC 3339).
	HeaderDeadLetterAt = "herald_dlq_at"
)

// Consumer turns order events (OrderCreated, OrderCancelled) into delivery
// rows, the same way for each: one policy gate, one inbox keyed by the
// event's ce_id, one delivery per event and channel. Its Handle is a
// stream.Handler: it returns nil only once the event is durably recorded (or
// dead-lettered, or known to be a duplicate), so the stream layer commits the
// offset only after that; any error makes the stream layer retry the same
// message, which pauses work instead of skipping it.
type Consumer struct {
	DB     *entnotifier.Client
	Users  UserDirectory
	DLQ    stream.Publisher // publishes poison messages to <topic>.dlq
	Logger *slog.Logger
	Status statusEvents
	// Available lists the channels this notifier can send; the gate skips
	// the others with a reason.
	Available map[string]bool
	Render    Renderer // nil: RenderLocalized
	Metrics   *Metrics // nil: none
	// Wake, when set, is called after new deliveries commit so a worker sends
	// them now instead of at its next poll; Published after status events
	// commit so the outbox relay publishes them now.
	Wake      func()
	Published func()
	Now       func() time.Time
	// Secrets seals the webhook secrets stored on delivery rows; nil stores
	// them unencrypted.
	Secrets *secretbox.Box
}

// orderEvent is a consumed event that notifications are made from.
type orderEvent struct {
	env     events.Envelope
	orderID string
	userID  string
	data    any // events.OrderCreated or events.OrderCancelled: what is rendered
}

// decodeOrderEvent reads an OrderCreated or OrderCancelled CloudEvent,
// chosen by its ce_type (so each topic's handler is the same), and checks
// its invariants. Any other type is refused as not an OrderCreated.
func decodeOrderEvent(m stream.Message) (orderEvent, error) {
	typ := m.Header(events.HeaderType)
	if events.EventKind(typ) == "" {
		typ = events.TypeOrderCreated // the error then names what is expected
	}
	var raw json.RawMessage
	env, err := events.Decode(m, typ, &raw)
	if err != nil {
		return orderEvent{env: env}, err
	}
	data, err := events.DecodeData(typ, raw)
	if err != nil {
		return orderEvent{env: env}, err
	}
	ev := orderEvent{env: env, data: data}
	switch d := data.(type) {
	case events.OrderCreated:
		ev.orderID, ev.userID, err = d.OrderID, d.UserID, d.Validate()
	case events.OrderCancelled:
		ev.orderID, ev.userID, err = d.OrderID, d.UserID, d.Validate()
	}
	return ev, err
}

// Handle processes one OrderCreated or OrderCancelled message.
func (c *Consumer) Handle(ctx context.Context, m stream.Message) error {
	ev, err := decodeOrderEvent(m)
	if err != nil {
		return c.deadLetter(ctx, m, err)
	}
	env := ev.env
	tp := traceParent(env.TraceParent)
	log := c.Logger.With("event_id", env.ID, "event", events.EventKind(env.Type), "order_id", ev.orderID, "user_id", ev.userID, "traceparent", tp)
	ctx = withTraceParent(ctx, tp)

	// A cheap check before asking the users service; the unique inbox row
	// below is what actually guarantees exactly one set of deliveries.
	seen, err := c.DB.InboxEvent.Query().Where(inboxevent.EventID(env.ID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("check inbox for %s: %w", env.ID, err)
	}
	if seen {
		log.Info("duplicate event ignored")
		c.Metrics.consumed("duplicate")
		return nil
	}

	const category = CategoryOrderUpdates
	policy, err := c.Users.Policy(ctx, ev.userID, category)
	if err != nil {
		return fmt.Errorf("look up user %s: %w", ev.userID, err)
	}
	now := c.now()
	decisions := Decide(policy, category, now, c.Available)
	if policy.Status != UserActive {
		log.Warn("user not active: event recorded without deliveries", "user_status", policy.Status)
	}
	rows, err := c.plan(ev, m.Value, policy, category, decisions)
	if err != nil {
		// Rendering is deterministic: retrying cannot help. Dead-letter it
		// so the rest flows on; replay once the template is fixed.
		return c.deadLetter(ctx, m, err)
	}
	if err := c.sealSecrets(rows); err != nil {
		return err // not the event's fault: retried
	}

	inserted, pub, err := c.record(ctx, m.Topic, env.ID, rows, now)
	if err != nil {
		return err
	}
	if !inserted {
		log.Info("duplicate event ignored (recorded concurrently)")
		c.Metrics.consumed("duplicate")
		return nil
	}
	c.Metrics.consumed("recorded")
	c.Metrics.transitions(pub)
	log.Info("event recorded", "deliveries", len(rows))
	due := 0
	for _, d := range decisions {
		if d.Status == "" {
			log.Debug("no delivery", "channel", d.Channel, "reason", d.Reason)
			continue
		}
		log.Info("delivery planned", "channel", d.Channel, "status", d.Status, "recipient", maskRecipient(d.Channel, d.Recipient), "reason", d.Reason, "due_at", d.DueAt)
		if d.Status == events.StatusPending {
			due++
		}
	}
	if len(pub) > 0 && c.Published != nil {
		c.Published()
	}
	if due > 0 && c.Wake != nil {
		c.Wake()
	}
	return nil
}

// newDelivery is one row to insert with its first status.
type newDelivery struct {
	row    *entnotifier.Delivery
	reason string
}

// plan turns the gate's decisions into rows, rendering what they send.
func (c *Consumer) plan(ev orderEvent, payload []byte, p Policy, category string, ds []Decision) ([]newDelivery, error) {
	env := ev.env
	var out []newDelivery
	for _, d := range ds {
		if d.Status == "" {
			continue
		}
		row := &entnotifier.Delivery{
			ID: uuid.New(), EventID: env.ID, EventType: env.Type, OrderID: ev.orderID, UserID: ev.userID,
			Channel: d.Channel, Category: category, Critical: d.Critical, Locale: p.Locale,
			Recipient: d.Recipient, Secret: d.Secret, Status: delivery.Status(d.Status),
			NextAttemptAt: d.DueAt.UTC(), Payload: payload, Traceparent: traceParent(env.TraceParent),
		}
		if d.Status != events.StatusSkipped {
			if err := renderRow(c.Render, row, ev.data, p.Name, p.Locale); err != nil {
				return nil, err
			}
		}
		out = append(out, newDelivery{row: row, reason: d.Reason})
	}
	return out, nil
}

// sealSecrets replaces the plain secrets the gate put on the rows by their
// stored form. A row that starts SKIPPED keeps none: it is final.
func (c *Consumer) sealSecrets(rows []newDelivery) error {
	for _, nd := range rows {
		d := nd.row
		if d.Status == delivery.StatusSKIPPED {
			d.Secret = ""
			continue
		}
		sealed, err := sealSecret(c.Secrets, d.ID, d.Secret)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", d.ID, err)
		}
		d.Secret = sealed
	}
	return nil
}

// record inserts the inbox row, the deliveries and their first status
// events (history + outbox) in one transaction. It reports false when the
// inbox row already existed (a concurrent duplicate).
func (c *Consumer) record(ctx context.Context, topic, eventID string, rows []newDelivery, now time.Time) (bool, []published, error) {
	tx, err := c.DB.Tx(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("begin: %w", err)
	}
	rollback := func(err error) (bool, []published, error) {
		_ = tx.Rollback()
		return false, nil, err
	}
	if err := tx.InboxEvent.Create().SetEventID(eventID).SetTopic(topic).SetReceivedAt(now).Exec(ctx); err != nil {
		if entnotifier.IsConstraintError(err) {
			_ = tx.Rollback()
			return false, nil, nil
		}
		return rollback(fmt.Errorf("insert inbox %s: %w", eventID, err))
	}
	var pub []published
	if len(rows) > 0 {
		at := eventTime(time.Time{}, now)
		creates := make([]*entnotifier.DeliveryCreate, 0, len(rows))
		for _, nd := range rows {
			d := nd.row
			d.PublicStatus, d.StatusAt, d.CreatedAt = delivery.PublicStatus(d.Status), at, now
			creates = append(creates, tx.Delivery.Create().
				SetID(d.ID).SetEventID(d.EventID).SetEventType(d.EventType).SetOrderID(d.OrderID).SetUserID(d.UserID).
				SetChannel(d.Channel).SetCategory(d.Category).SetCritical(d.Critical).SetLocale(d.Locale).
				SetRecipient(d.Recipient).SetSecret(d.Secret).
				SetStatus(d.Status).SetPublicStatus(d.PublicStatus).SetStatusAt(at).
				SetLastError(nd.reason).SetSubject(d.Subject).SetBody(d.Body).SetHTMLBody(d.HTMLBody).
				SetPayload(d.Payload).SetTraceparent(d.Traceparent).SetNextAttemptAt(d.NextAttemptAt).SetCreatedAt(now))
		}
		if err := tx.Delivery.CreateBulk(creates...).Exec(ctx); err != nil {
			return rollback(fmt.Errorf("insert deliveries for %s: %w", eventID, err))
		}
		for _, nd := range rows {
			d := nd.row
			if !CanTransition("", string(d.Status)) {
				return rollback(fmt.Errorf("delivery %s: cannot start as %s", d.ID, d.Status))
			}
			ch := change{To: d.Status, Reason: nd.reason}
			if d.Status == delivery.StatusDEFERRED {
				ch.Next = &d.NextAttemptAt
			}
			if err := c.Status.write(ctx, tx, d, "", ch, at); err != nil {
				return rollback(err)
			}
			pub = append(pub, published{Channel: d.Channel, Status: string(d.Status)})
		}
	}
	if err := tx.Commit(); err != nil {
		return false, nil, fmt.Errorf("commit %s: %w", eventID, err)
	}
	return true, pub, nil
}

// deadLetter publishes m unchanged to <topic>.dlq with the reason, the
// source topic and the time added. If that publish fails the error is
// returned, so the message is retried rather than lost.
func (c *Consumer) deadLetter(ctx context.Context, m stream.Message, reason error) error {
	headers := make([]stream.Header, 0, len(m.Headers)+3)
	for _, h := range m.Headers {
		if !isDeadLetterHeader(h.Key) { // a replayed message that failed again
			headers = append(headers, h)
		}
	}
	at := c.now().Format(time.RFC3339Nano)
	headers = append(headers,
		stream.Header{Key: events.HeaderDeadLetterReason, Value: truncate(reason.Error(), 2000)},
		stream.Header{Key: HeaderDeadLetterTopic, Value: m.Topic},
		stream.Header{Key: HeaderDeadLetterAt, Value: at},
	)
	if id := m.Header(events.HeaderID); id != "" {
		// A replayed event that fails again comes back here under the same
		// ce_id, possibly within JetStream's duplicate window of its first
		// dead-lettering: deduplicated by ce_id it would be acknowledged and
		// dropped, and lost. Each dead-lettering has its own id (a retry of
		// this publish after a crash may leave a second copy on the
		// dead-letter topic; replay and the inbox absorb it).
		headers = append(headers, stream.Header{Key: stream.DedupHeader, Value: id + "/dlq/" + at})
	}
	dlq := stream.Message{Topic: m.Topic + events.DeadLetterSuffix, Key: m.Key, Headers: headers, Value: m.Value}
	if err := c.DLQ.Publish(ctx, dlq); err != nil {
		return fmt.Errorf("dead-letter message from %s: %w", m.Topic, err)
	}
	c.Metrics.consumed("dead_lettered")
	c.Metrics.deadLettered(m.Topic)
	c.Logger.Warn("message dead-lettered", "topic", m.Topic, "dlq", dlq.Topic, "event_id", m.Header(events.HeaderID), "reason", reason.Error())
	return nil
}

func (c *Consumer) now() time.Time {
	// UTC everywhere: SQLite compares stored times as text.
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}
