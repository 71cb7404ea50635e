package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/inboxevent"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream"
)

// Consumer turns OrderCreated events into delivery rows. Its Handle is a
// stream.Handler: it returns nil only once the event is durably recorded (or
// dead-lettered, or known to be a duplicate), so the stream layer commits the
// offset only after that; any error makes the stream layer retry the same
// message, which pauses work instead of skipping it.
type Consumer struct {
	DB     *entnotifier.Client
	Users  UserDirectory
	DLQ    stream.Publisher // publishes poison messages to <topic>.dlq
	Logger *slog.Logger
	// Wake, when set, is called after new deliveries commit so a worker sends
	// them now instead of at its next poll.
	Wake func()
	Now  func() time.Time
}

// Handle processes one OrderCreated message.
func (c *Consumer) Handle(ctx context.Context, m stream.Message) error {
	var order events.OrderCreated
	env, err := events.Decode(m, events.TypeOrderCreated, &order)
	if err == nil {
		err = order.Validate()
	}
	if err != nil {
		return c.deadLetter(ctx, m, err)
	}
	log := c.Logger.With("event_id", env.ID, "order_id", order.OrderID, "user_id", order.UserID)

	// A cheap check before asking the users service; the unique inbox row
	// below is what actually guarantees exactly one set of deliveries.
	seen, err := c.DB.InboxEvent.Query().Where(inboxevent.EventID(env.ID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("check inbox for %s: %w", env.ID, err)
	}
	if seen {
		log.Info("duplicate event ignored")
		return nil
	}

	var plans []plannedDelivery
	user, err := c.Users.Contact(ctx, order.UserID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		log.Warn("user not found: event recorded without deliveries")
	case err != nil:
		return fmt.Errorf("look up user %s: %w", order.UserID, err)
	default:
		if plans, err = planDeliveries(order, user); err != nil {
			return fmt.Errorf("plan deliveries for %s: %w", env.ID, err)
		}
	}

	inserted, err := c.record(ctx, m.Topic, env.ID, order, plans)
	if err != nil {
		return err
	}
	if !inserted {
		log.Info("duplicate event ignored (recorded concurrently)")
		return nil
	}
	log.Info("event recorded", "deliveries", len(plans))
	pending := 0
	for _, p := range plans {
		log.Info("delivery planned", "channel", p.Channel, "status", p.Status, "recipient", maskRecipient(string(p.Channel), p.Recipient), "reason", p.Reason)
		if p.Status == "PENDING" {
			pending++
		}
	}
	if pending > 0 && c.Wake != nil {
		c.Wake()
	}
	return nil
}

// record inserts the inbox row and the deliveries in one transaction. It
// reports false when the inbox row already existed (a concurrent duplicate).
func (c *Consumer) record(ctx context.Context, topic, eventID string, order events.OrderCreated, plans []plannedDelivery) (bool, error) {
	tx, err := c.DB.Tx(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	now := c.now()
	if err := tx.InboxEvent.Create().SetEventID(eventID).SetTopic(topic).SetReceivedAt(now).Exec(ctx); err != nil {
		_ = tx.Rollback()
		if entnotifier.IsConstraintError(err) {
			return false, nil
		}
		return false, fmt.Errorf("insert inbox %s: %w", eventID, err)
	}
	if len(plans) > 0 {
		creates := make([]*entnotifier.DeliveryCreate, 0, len(plans))
		for _, p := range plans {
			creates = append(creates, tx.Delivery.Create().
				SetEventID(eventID).
				SetOrderID(order.OrderID).
				SetUserID(order.UserID).
				SetChannel(p.Channel).
				SetRecipient(p.Recipient).
				SetStatus(p.Status).
				SetLastError(p.Reason).
				SetSubject(p.Email.Subject).
				SetBody(p.Email.Text).
				SetHTMLBody(p.Email.HTML).
				SetNextAttemptAt(now).
				SetCreatedAt(now))
		}
		if err := tx.Delivery.CreateBulk(creates...).Exec(ctx); err != nil {
			_ = tx.Rollback()
			return false, fmt.Errorf("insert deliveries for %s: %w", eventID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit %s: %w", eventID, err)
	}
	return true, nil
}

// deadLetter publishes m unchanged to <topic>.dlq with the reason added. If
// that publish fails the error is returned, so the message is retried rather
// than lost.
func (c *Consumer) deadLetter(ctx context.Context, m stream.Message, reason error) error {
	headers := make([]stream.Header, 0, len(m.Headers)+1)
	headers = append(headers, m.Headers...)
	headers = append(headers, stream.Header{Key: events.HeaderDeadLetterReason, Value: reason.Error()})
	dlq := stream.Message{Topic: m.Topic + events.DeadLetterSuffix, Key: m.Key, Headers: headers, Value: m.Value}
	if err := c.DLQ.Publish(ctx, dlq); err != nil {
		return fmt.Errorf("dead-letter message from %s: %w", m.Topic, err)
	}
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

func maskRecipient(channel, r string) string {
	switch channel {
	case "email":
		return logging.MaskEmail(r)
	case "sms":
		return logging.MaskPhone(r)
	}
	return "***"
}
