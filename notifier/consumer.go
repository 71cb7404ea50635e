package notifier

import (
	"context"
	"encoding/json"
	"errors"
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

// Handle processes one OrderCreated or OrderCancelled message: a batch of
// one.
func (c *Consumer) Handle(ctx context.Context, m stream.Message) error {
	_, err := c.HandleBatch(ctx, []stream.Message{m})
	return err
}

// batchItem is one message of a batch on its way to the database.
type batchItem struct {
	m         stream.Message
	ev        orderEvent
	log       *slog.Logger
	poison    error  // dead-lettered with this reason instead of recorded
	dup       string // why it is a duplicate ("" when it is not)
	policy    Policy
	decisions []Decision
	rows      []newDelivery
	pub       []published // set once recorded
}

// HandleBatch is a stream.BatchHandler: it records the events of msgs (the
// records one poll returned for a partition) in one transaction — their
// inbox rows, deliveries and first status events — and returns only after
// it committed, so the offsets move past them only then. The users service
// is asked once per distinct user of the batch. Poison messages are
// dead-lettered one by one after that commit, never failing the others.
// When an event cannot be prepared for a reason worth retrying (the users
// service, the secrets box), the events before it are still recorded and
// its index is returned with the error; if the batch's transaction fails,
// each event is recorded in a transaction of its own, so one that keeps
// failing holds back only itself and what follows it on its partition.
func (c *Consumer) HandleBatch(ctx context.Context, msgs []stream.Message) (int, error) {
	now := c.now()
	items, err := c.prepare(ctx, msgs, now)
	// items covers msgs[:len(items)]; err, if any, is msgs[len(items)]'s.
	if rerr := c.recordAll(ctx, items, now); rerr != nil {
		if ctx.Err() != nil {
			return 0, rerr
		}
		n := 0
		for i := range items {
			if items[i].recordable() {
				n++
			}
		}
		if n > 1 {
			c.Logger.Warn("batch not recorded; recording its events one by one", "events", n, "err", rerr)
		}
		for i := range items {
			if !items[i].recordable() {
				continue
			}
			err := rerr // a batch of one has had its try
			if n > 1 {
				err = c.recordAll(ctx, items[i:i+1], now)
			}
			if errors.Is(err, errRecorded) {
				items[i].dup = "recorded concurrently"
			} else if err != nil {
				if ferr := c.finish(ctx, items[:i]); ferr != nil {
					return ferr.index, ferr.err
				}
				return i, err
			}
		}
	}
	if ferr := c.finish(ctx, items); ferr != nil {
		return ferr.index, ferr.err
	}
	return len(items), err
}

// prepare decodes msgs, drops those the inbox already holds, asks the users
// service and plans the rows. It stops at the first message that hit an
// error worth retrying and returns the items before it with that error.
func (c *Consumer) prepare(ctx context.Context, msgs []stream.Message, now time.Time) ([]batchItem, error) {
	items := make([]batchItem, len(msgs))
	var ids []string
	for i, m := range msgs {
		it := &items[i]
		it.m = m
		it.ev, it.poison = decodeOrderEvent(m)
		if it.poison != nil {
			continue
		}
		env := it.ev.env
		it.log = c.Logger.With("event_id", env.ID, "event", events.EventKind(env.Type), "order_id", it.ev.orderID,
			"user_id", it.ev.userID, "traceparent", traceParent(env.TraceParent))
		ids = append(ids, env.ID)
	}
	if len(ids) == 0 {
		return items, nil
	}
	// A cheap check before asking the users service; the unique inbox rows
	// are what actually guarantee exactly one set of deliveries.
	seen, err := c.DB.InboxEvent.Query().Where(inboxevent.EventIDIn(ids...)).Select(inboxevent.FieldEventID).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("check inbox for %d events: %w", len(ids), err)
	}
	inBatch := make(map[string]string, len(ids))
	for _, id := range seen {
		inBatch[id] = "already in the inbox"
	}
	const category = CategoryOrderUpdates
	policies := map[string]Policy{}
	for i := range items {
		it := &items[i]
		if it.poison != nil {
			continue
		}
		id := it.ev.env.ID
		if why, ok := inBatch[id]; ok {
			it.dup = why
			continue
		}
		inBatch[id] = "twice in one batch" // a relay that published it again
		p, ok := policies[it.ev.userID]
		if !ok {
			// Once per user and batch: its events are being handled at
			// the same moment, so they see the same preferences.
			tctx := withTraceParent(ctx, traceParent(it.ev.env.TraceParent))
			if p, err = c.Users.Policy(tctx, it.ev.userID, category); err != nil {
				return items[:i], fmt.Errorf("look up user %s: %w", it.ev.userID, err)
			}
			policies[it.ev.userID] = p
		}
		it.policy = p
		it.decisions = Decide(p, category, now, c.Available)
		if it.rows, err = c.plan(it.ev, it.m.Value, p, category, it.decisions); err != nil {
			// Rendering is deterministic: retrying cannot help. Dead-letter
			// it so the rest flows on; replay once the template is fixed.
			it.poison = err
			continue
		}
		if err := c.sealSecrets(it.rows); err != nil {
			return items[:i], err // not the event's fault: retried
		}
	}
	return items, nil
}

func (it *batchItem) recordable() bool { return it.poison == nil && it.dup == "" }

// errRecorded means an inbox row already existed: the event was recorded
// concurrently (another member during a rebalance).
var errRecorded = errors.New("event already in the inbox")

// recordAll inserts the inbox rows, the deliveries and their first status
// events (history + outbox) of the recordable items in one transaction, a
// statement for each table. A single item whose inbox row exists already
// returns errRecorded.
func (c *Consumer) recordAll(ctx context.Context, items []batchItem, now time.Time) error {
	var todo []*batchItem
	for i := range items {
		if items[i].recordable() {
			todo = append(todo, &items[i])
		}
	}
	if len(todo) == 0 {
		return nil
	}
	tx, err := c.DB.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	rollback := func(err error) error {
		_ = tx.Rollback()
		return err
	}
	inbox := make([]*entnotifier.InboxEventCreate, len(todo))
	var creates []*entnotifier.DeliveryCreate
	at := eventTime(time.Time{}, now)
	for i, it := range todo {
		inbox[i] = tx.InboxEvent.Create().SetEventID(it.ev.env.ID).SetTopic(it.m.Topic).SetReceivedAt(now)
		for _, nd := range it.rows {
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
	}
	if err := tx.InboxEvent.CreateBulk(inbox...).Exec(ctx); err != nil {
		if len(todo) == 1 && entnotifier.IsConstraintError(err) {
			return rollback(errRecorded)
		}
		return rollback(fmt.Errorf("insert %d inbox rows: %w", len(todo), err))
	}
	if len(creates) > 0 {
		if err := tx.Delivery.CreateBulk(creates...).Exec(ctx); err != nil {
			return rollback(fmt.Errorf("insert %d deliveries: %w", len(creates), err))
		}
	}
	var history []*entnotifier.StatusEventCreate
	var outbox []*entnotifier.OutboxEventCreate
	pubs := make([][]published, len(todo))
	for i, it := range todo {
		for _, nd := range it.rows {
			d := nd.row
			if !CanTransition("", string(d.Status)) {
				return rollback(fmt.Errorf("delivery %s: cannot start as %s", d.ID, d.Status))
			}
			ch := change{To: d.Status, Reason: nd.reason}
			if d.Status == delivery.StatusDEFERRED {
				ch.Next = &d.NextAttemptAt
			}
			ev, ob, err := c.Status.rows(tx, d, "", ch, at)
			if err != nil {
				return rollback(err)
			}
			history, outbox = append(history, ev), append(outbox, ob)
			pubs[i] = append(pubs[i], published{Channel: d.Channel, Status: string(d.Status)})
		}
	}
	if len(history) > 0 {
		if err := tx.StatusEvent.CreateBulk(history...).Exec(ctx); err != nil {
			return rollback(fmt.Errorf("insert %d status events: %w", len(history), err))
		}
		if err := tx.OutboxEvent.CreateBulk(outbox...).Exec(ctx); err != nil {
			return rollback(fmt.Errorf("insert %d outbox rows: %w", len(outbox), err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %d events: %w", len(todo), err)
	}
	for i, it := range todo {
		it.pub = pubs[i]
		if it.pub == nil {
			it.pub = []published{} // recorded, with no deliveries
		}
	}
	return nil
}

// finishError is a dead-letter publish that failed at index.
type finishError struct {
	index int
	err   error
}

// finish dead-letters the poison items in order, then logs and counts what
// happened to the others and wakes the workers and the status relay once.
func (c *Consumer) finish(ctx context.Context, items []batchItem) *finishError {
	due, published := 0, 0
	defer func() {
		if published > 0 && c.Published != nil {
			c.Published()
		}
		if due > 0 && c.Wake != nil {
			c.Wake()
		}
	}()
	for i := range items {
		it := &items[i]
		switch {
		case it.poison != nil:
			if err := c.deadLetter(ctx, it.m, it.poison); err != nil {
				return &finishError{i, err}
			}
		case it.dup != "":
			it.log.Info("duplicate event ignored", "why", it.dup)
			c.Metrics.consumed("duplicate")
		case it.pub != nil:
			if it.policy.Status != UserActive {
				it.log.Warn("user not active: event recorded without deliveries", "user_status", it.policy.Status)
			}
			c.Metrics.consumed("recorded")
			c.Metrics.transitions(it.pub)
			published += len(it.pub)
			it.log.Info("event recorded", "deliveries", len(it.rows))
			for _, d := range it.decisions {
				if d.Status == "" {
					it.log.Debug("no delivery", "channel", d.Channel, "reason", d.Reason)
					continue
				}
				it.log.Info("delivery planned", "channel", d.Channel, "status", d.Status, "recipient", maskRecipient(d.Channel, d.Recipient), "reason", d.Reason, "due_at", d.DueAt)
				if d.Status == events.StatusPending {
					due++
				}
			}
		}
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
