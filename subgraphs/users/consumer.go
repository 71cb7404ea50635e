package users

import (
	"context"
	"fmt"
	"log/slog"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/user"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
)

// OrderCounter consumes OrderCreated to keep User.orderCount and
// User.lastOrderAt current. Each event is applied in one transaction that
// also inserts its id into processed_events (primary key): a redelivered
// event hits the key, rolls back and changes nothing, so delivery at least
// once counts exactly once.
type OrderCounter struct {
	Client *entusers.Client
	Logger *slog.Logger
	// LockRows: see Resolver.LockRows.
	LockRows bool
}

// Handle is a stream.Handler. It returns an error only for failures worth
// retrying (the database); a malformed event is logged and acknowledged,
// because retrying cannot fix it and the notifier, which consumes the same
// topic, already dead-letters it with the reason.
func (c *OrderCounter) Handle(ctx context.Context, m stream.Message) error {
	var o events.OrderCreated
	env, err := events.Decode(m, events.TypeOrderCreated, &o)
	if err == nil {
		err = o.Validate()
	}
	if err != nil {
		c.Logger.WarnContext(ctx, "skipping malformed OrderCreated", "event_id", env.ID, "topic", m.Topic, "reason", err.Error())
		return nil
	}
	applied, err := c.apply(ctx, env.ID, o)
	if err != nil {
		return fmt.Errorf("count order %s: %w", o.OrderID, err)
	}
	if applied {
		c.Logger.DebugContext(ctx, "order counted", "event_id", env.ID, "user_id", o.UserID, "order_id", o.OrderID)
	} else {
		c.Logger.DebugContext(ctx, "duplicate OrderCreated ignored", "event_id", env.ID)
	}
	return nil
}

// apply records the event and counts the order; false means the event had
// already been applied.
func (c *OrderCounter) apply(ctx context.Context, eventID string, o events.OrderCreated) (bool, error) {
	tx, err := c.Client.Tx(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	err = tx.ProcessedEvent.Create().SetID(eventID).SetType(events.TypeOrderCreated).Exec(ctx)
	if entusers.IsConstraintError(err) {
		return false, nil // seen before: the rollback discards nothing
	}
	if err != nil {
		return false, fmt.Errorf("record event: %w", err)
	}
	// The row lock (PostgreSQL) serialises concurrent events of one user so
	// the counter and the latest order time cannot lose an update.
	q := tx.User.Query().Where(user.ID(o.UserID))
	if c.LockRows {
		q.ForUpdate()
	}
	u, err := q.Only(ctx)
	switch {
	case entusers.IsNotFound(err):
		// An order for a user this service does not know (yet): record the
		// event so it is not retried forever, and count nothing.
		c.Logger.WarnContext(ctx, "OrderCreated for an unknown user", "event_id", eventID, "user_id", o.UserID)
	case err != nil:
		return false, fmt.Errorf("get user: %w", err)
	default:
		upd := tx.User.UpdateOne(u).AddOrderCount(1)
		created := o.CreatedAt.UTC().Truncate(1000) // microseconds, as stored
		if !created.IsZero() && (u.LastOrderAt == nil || created.After(*u.LastOrderAt)) {
			upd.SetLastOrderAt(created)
		}
		if err := upd.Exec(ctx); err != nil {
			return false, fmt.Errorf("update counters: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}
