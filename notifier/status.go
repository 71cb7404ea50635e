package notifier

import (
	"context"

	"fmt"
	"time"

	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/statusevent"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/notifier/channel"
)

// rowNext is the delivery row's transition table: the only moves a row may
// make. SENDING is internal (a worker's claim) and never published; every
// other target is a public status and publishes a NotificationStatus event.
// Nothing moves backwards and terminal statuses (SENT, FAILED, SKIPPED) have
// no way out.
var rowNext = map[delivery.Status][]delivery.Status{
	delivery.StatusPENDING:  {delivery.StatusSENDING, delivery.StatusDEFERRED, delivery.StatusFAILED, delivery.StatusSKIPPED},
	delivery.StatusDEFERRED: {delivery.StatusSENDING, delivery.StatusFAILED, delivery.StatusSKIPPED},
	delivery.StatusRETRYING: {delivery.StatusSENDING, delivery.StatusFAILED, delivery.StatusSKIPPED},
	// SENDING → SENDING is a re-claim after the lease expired (a worker died).
	// SENDING → DEFERRED or RETRYING hands a row back unsent when its policy
	// re-check could not reach the users service (never published: the
	// row's published status is unchanged).
	delivery.StatusSENDING: {delivery.StatusSENDING, delivery.StatusDEFERRED, delivery.StatusRETRYING, delivery.StatusSENT, delivery.StatusFAILED, delivery.StatusSKIPPED},
}

// publicNext is the same table as seen by NotificationStatus consumers
// ("" is a delivery that does not exist yet): PENDING → (DEFERRED |
// RETRYING)* → SENT | FAILED | SKIPPED. RETRYING → RETRYING is the next
// failed attempt (its attempt number grows).
var publicNext = map[string][]string{
	"":                    {events.StatusPending, events.StatusDeferred, events.StatusSkipped},
	events.StatusPending:  {events.StatusDeferred, events.StatusRetrying, events.StatusSent, events.StatusFailed, events.StatusSkipped},
	events.StatusDeferred: {events.StatusRetrying, events.StatusSent, events.StatusFailed, events.StatusSkipped},
	events.StatusRetrying: {events.StatusRetrying, events.StatusSent, events.StatusFailed, events.StatusSkipped},
	events.StatusSent:     nil,
	events.StatusFailed:   nil,
	events.StatusSkipped:  nil,
}

// CanTransition reports whether a published status may follow from ("" for
// a new delivery). It is the rule status consumers can rely on.
func CanTransition(from, to string) bool {
	for _, s := range publicNext[from] {
		if s == to {
			return true
		}
	}
	return false
}

// isFinal reports whether a row status has no way out (SENT, FAILED,
// SKIPPED).
func isFinal(s delivery.Status) bool {
	_, open := rowNext[s]
	return !open
}

func canMoveRow(from, to delivery.Status) bool {
	for _, s := range rowNext[from] {
		if s == to {
			return true
		}
	}
	return false
}

// statusEvents writes status history and outbox rows. Source is the
// CloudEvents source of the published events.
type statusEvents struct {
	Topic  string // NotificationStatus topic
	Source string
}

// published is what a committed transition announced (for metrics and logs).
type published struct {
	Channel string
	Status  string
}

// change is one status transition to record.
type change struct {
	To      delivery.Status
	Reason  string
	Next    *time.Time // RETRYING/DEFERRED: when the next attempt is due
	Attempt int        // attempt number the status refers to (0 before any)
	// Update adds the outcome's other fields (sent_at, message_id, ...).
	Update func(*entnotifier.DeliveryUpdate)
	// NextAttemptAt and Attempts, when set, are stored on the row.
	NextAttemptAt *time.Time
	Attempts      *int
	// Release marks SENDING → DEFERRED or RETRYING (the published status):
	// the claim is given back unused and nothing is published.
	Release bool
}

// transition moves row d to c.To inside tx. The update is guarded by the
// row's status and attempts as d knows them: if another worker moved the
// row meanwhile, nothing is written and applied is false. A public target
// status also writes the status history row and the outbox row that
// publishes it, in the same transaction, so a status is never lost between
// the database and the stream.
func (s statusEvents) transition(ctx context.Context, tx *entnotifier.Tx, d *entnotifier.Delivery, c change, now time.Time) (applied bool, err error) {
	if !canMoveRow(d.Status, c.To) {
		return false, fmt.Errorf("delivery %s: status %s cannot move to %s", d.ID, d.Status, c.To)
	}
	public := c.To != delivery.StatusSENDING && !c.Release
	if c.Release && (d.Status != delivery.StatusSENDING || string(d.PublicStatus) != string(c.To)) {
		return false, fmt.Errorf("delivery %s: cannot release %s (published %s) to %s", d.ID, d.Status, d.PublicStatus, c.To)
	}
	if public && !CanTransition(string(d.PublicStatus), string(c.To)) {
		return false, fmt.Errorf("delivery %s: published status %s cannot move to %s", d.ID, d.PublicStatus, c.To)
	}
	upd := tx.Delivery.Update().Where(
		delivery.ID(d.ID), delivery.StatusEQ(d.Status), delivery.Attempts(d.Attempts),
	).SetStatus(c.To)
	if c.NextAttemptAt != nil {
		upd.SetNextAttemptAt(*c.NextAttemptAt)
	}
	if c.Attempts != nil {
		upd.SetAttempts(*c.Attempts)
	}
	if c.Update != nil {
		c.Update(upd)
	}
	final := isFinal(c.To)
	if final {
		// A final delivery is never sent again: its key material goes.
		upd.SetSecret("")
	}
	var at time.Time
	if public {
		at = eventTime(d.StatusAt, now)
		upd.SetPublicStatus(delivery.PublicStatus(c.To)).SetStatusAt(at)
	}
	n, err := upd.Save(ctx)
	if err != nil {
		return false, fmt.Errorf("update delivery %s to %s: %w", d.ID, c.To, err)
	}
	if n == 0 {
		return false, nil
	}
	if public {
		if err := s.write(ctx, tx, d, string(d.PublicStatus), c, at); err != nil {
			return false, err
		}
		d.PublicStatus = delivery.PublicStatus(c.To)
		d.StatusAt = at
	}
	d.Status = c.To
	if final {
		d.Secret = ""
	}
	if c.Attempts != nil {
		d.Attempts = *c.Attempts
	}
	if c.NextAttemptAt != nil {
		d.NextAttemptAt = *c.NextAttemptAt
	}
	return true, nil
}

// eventTime keeps the times of one delivery's status events strictly
// increasing even when two transitions fall in one clock tick, so the
// outbox (ordered by created_at) publishes them in order.
func eventTime(last, now time.Time) time.Time {
	now = now.UTC().Truncate(time.Microsecond) // what PostgreSQL stores
	if !now.After(last) {
		return last.UTC().Add(time.Microsecond)
	}
	return now
}

// write inserts the history row and the outbox row for one public status.
// from is the previously published status ("" for a new delivery).
func (s statusEvents) write(ctx context.Context, tx *entnotifier.Tx, d *entnotifier.Delivery, from string, c change, at time.Time) error {
	ev, ob, err := s.rows(tx, d, from, c, at)
	if err != nil {
		return err
	}
	if err := ev.Exec(ctx); err != nil {
		return fmt.Errorf("insert status event for %s: %w", d.ID, err)
	}
	if err := ob.Exec(ctx); err != nil {
		return fmt.Errorf("insert outbox row for %s: %w", d.ID, err)
	}
	return nil
}

// rows builds what write inserts, so that the consumer can insert a batch's
// rows in two statements.
func (s statusEvents) rows(tx *entnotifier.Tx, d *entnotifier.Delivery, from string, c change, at time.Time) (*entnotifier.StatusEventCreate, *entnotifier.OutboxEventCreate, error) {
	id, err := uuid.NewV7() // time-ordered: ties on created_at still sort in order
	if err != nil {
		return nil, nil, fmt.Errorf("status event id: %w", err)
	}
	fromStatus := statusevent.FromStatus(from)
	if from == "" {
		fromStatus = statusevent.FromStatusNONE
	}
	reason := truncate(c.Reason, 2000)
	ev := tx.StatusEvent.Create().
		SetID(id).SetDeliveryID(d.ID).SetEventID(d.EventID).SetOrderID(d.OrderID).SetUserID(d.UserID).
		SetChannel(d.Channel).SetFromStatus(fromStatus).SetStatus(statusevent.Status(c.To)).
		SetAttempt(c.Attempt).SetReason(reason).SetAt(at)
	var next *time.Time
	if c.Next != nil {
		t := c.Next.UTC()
		next = &t
		ev.SetNextAttemptAt(t)
	}
	msg, err := events.Encode(s.Topic, d.OrderID, events.Envelope{
		ID: id.String(), Source: s.Source, Type: events.TypeNotificationStatus, Subject: d.ID.String(), Time: at,
		TraceParent: d.Traceparent, // the consumed OrderCreated's: one trace from the order to its statuses
	}, events.NotificationStatus{
		NotificationID: d.ID.String(), EventID: d.EventID, Event: events.EventKind(d.EventType), OrderID: d.OrderID, UserID: d.UserID,
		Channel: channel.Enum(d.Channel), Status: string(c.To), Attempt: c.Attempt,
		Reason: reason, NextAttemptAt: next, Time: at,
	})
	if err != nil {
		return nil, nil, err
	}
	ob := tx.OutboxEvent.Create().
		SetID(id.String()).SetTopic(msg.Topic).SetKey(msg.Key).SetHeaders(msg.Headers).
		SetPayload(msg.Value).SetCreatedAt(at)
	return ev, ob, nil
}

// StatusHistory returns the status events of a delivery, oldest first (for
// tests and operators).
func StatusHistory(ctx context.Context, db *entnotifier.Client, deliveryID uuid.UUID) ([]*entnotifier.StatusEvent, error) {
	return db.StatusEvent.Query().Where(statusevent.DeliveryID(deliveryID)).
		Order(statusevent.ByAt(), statusevent.ByID()).All(ctx)
}
