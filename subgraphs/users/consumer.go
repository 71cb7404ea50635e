package users

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/processedevent"
	"github.com/heraldhq/herald/ent/users/user"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
)

// OrderCounter consumes OrderCreated to keep User.orderCount and
// User.lastOrderAt current. An event is applied in the transaction that
// also inserts its id into processed_events (primary key): a redelivered
// event is found there (or hits the key, rolls back and changes nothing), so
// delivery at least once counts exactly once. HandleBatch applies the
// events of one poll in one such transaction.
type OrderCounter struct {
	Client *entusers.Client
	Logger *slog.Logger
	// LockRows: see Resolver.LockRows.
	LockRows bool
}

// Handle is a stream.Handler (HandleBatch its batch form). It returns an
// error only for failures worth retrying (the database); a malformed event
// is logged and acknowledged, because retrying cannot fix it and the
// notifier, which consumes the same topic, already dead-letters it with the
// reason.
func (c *OrderCounter) Handle(ctx context.Context, m stream.Message) error {
	ev, ok := c.decode(ctx, m)
	if !ok {
		return nil
	}
	return c.count(ctx, ev)
}

// count applies one decoded event in a transaction of its own.
func (c *OrderCounter) count(ctx context.Context, ev counted) error {
	id, o := ev.id, ev.order
	applied, err := c.apply(ctx, id, o)
	if err != nil {
		return fmt.Errorf("count order %s: %w", o.OrderID, err)
	}
	if applied {
		c.Logger.DebugContext(ctx, "order counted", "event_id", id, "user_id", o.UserID, "order_id", o.OrderID)
	} else {
		c.Logger.DebugContext(ctx, "duplicate OrderCreated ignored", "event_id", id)
	}
	return nil
}

// counted is one decoded OrderCreated.
type counted struct {
	id    string
	order events.OrderCreated
}

// decode reads an OrderCreated; a malformed one is logged and reported not
// ok.
func (c *OrderCounter) decode(ctx context.Context, m stream.Message) (counted, bool) {
	var o events.OrderCreated
	env, err := events.Decode(m, events.TypeOrderCreated, &o)
	if err == nil {
		err = o.Validate()
	}
	if err != nil {
		c.Logger.WarnContext(ctx, "skipping malformed OrderCreated", "event_id", env.ID, "topic", m.Topic, "reason", err.Error())
		return counted{}, false
	}
	return counted{env.ID, o}, true
}

// HandleBatch is a stream.BatchHandler: it counts the OrderCreated events of
// msgs (what one poll returned for a partition) in one transaction — their
// processed_events rows, then one update per user — so their offsets move
// on only after it committed. Malformed events are skipped as in Handle. If
// that transaction fails, each event is applied on its own (Handle), so an
// event that keeps failing holds back only itself and what follows it.
func (c *OrderCounter) HandleBatch(ctx context.Context, msgs []stream.Message) (int, error) {
	decoded := make([]*counted, len(msgs)) // nil: malformed, logged and skipped
	var batch []counted
	seen := map[string]bool{}
	for i, m := range msgs {
		ev, ok := c.decode(ctx, m)
		if !ok {
			continue
		}
		decoded[i] = &ev
		if !seen[ev.id] { // not seen: a relay may have published it twice
			seen[ev.id] = true
			batch = append(batch, ev)
		}
	}
	if len(batch) >= 2 {
		err := c.applyAll(ctx, batch)
		if err == nil {
			return len(msgs), nil
		}
		if ctx.Err() != nil {
			return 0, err
		}
		c.Logger.WarnContext(ctx, "batch not counted; counting its events one by one", "events", len(batch), "err", err)
	}
	// One by one, as Handle, from the events decoded above.
	for i, ev := range decoded {
		if err := ctx.Err(); err != nil {
			return i, err // stopping: the rest go to the next owner
		}
		if ev == nil {
			continue
		}
		if err := c.count(ctx, *ev); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

// applyAll is apply for several events in one transaction: the events not
// processed before are recorded with one insert, and each of their users is
// locked (in id order, so two batches cannot deadlock) and updated once.
func (c *OrderCounter) applyAll(ctx context.Context, batch []counted) error {
	tx, err := c.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ids := make([]string, len(batch))
	for i, b := range batch {
		ids[i] = b.id
	}
	done, err := tx.ProcessedEvent.Query().Where(processedevent.IDIn(ids...)).IDs(ctx)
	if err != nil {
		return fmt.Errorf("read processed events: %w", err)
	}
	old := make(map[string]bool, len(done))
	for _, id := range done {
		old[id] = true
	}
	type tally struct {
		n    int64
		last time.Time
	}
	perUser := map[string]*tally{}
	var creates []*entusers.ProcessedEventCreate
	for _, b := range batch {
		if old[b.id] {
			c.Logger.DebugContext(ctx, "duplicate OrderCreated ignored", "event_id", b.id)
			continue
		}
		creates = append(creates, tx.ProcessedEvent.Create().SetID(b.id).SetType(events.TypeOrderCreated))
		t := perUser[b.order.UserID]
		if t == nil {
			t = &tally{}
			perUser[b.order.UserID] = t
		}
		t.n++
		if created := b.order.CreatedAt.UTC().Truncate(1000); created.After(t.last) { // microseconds, as stored
			t.last = created
		}
	}
	if len(creates) == 0 {
		return nil
	}
	if err := tx.ProcessedEvent.CreateBulk(creates...).Exec(ctx); err != nil {
		return fmt.Errorf("record %d events: %w", len(creates), err)
	}
	userIDs := make([]string, 0, len(perUser))
	for id := range perUser {
		userIDs = append(userIDs, id)
	}
	q := tx.User.Query().Where(user.IDIn(userIDs...)).Order(entusers.Asc(user.FieldID))
	if c.LockRows {
		q.ForUpdate()
	}
	us, err := q.All(ctx)
	if err != nil {
		return fmt.Errorf("get users: %w", err)
	}
	for _, u := range us {
		t := perUser[u.ID]
		delete(perUser, u.ID)
		upd := tx.User.UpdateOne(u).AddOrderCount(t.n)
		if !t.last.IsZero() && (u.LastOrderAt == nil || t.last.After(*u.LastOrderAt)) {
			upd.SetLastOrderAt(t.last)
		}
		if err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("update counters of %s: %w", u.ID, err)
		}
	}
	for id := range perUser {
		c.Logger.WarnContext(ctx, "OrderCreated for an unknown user", "user_id", id)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	c.Logger.DebugContext(ctx, "orders counted", "events", len(creates), "users", len(us))
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
