package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql/sqlgraph"

	"github.com/99designs/gqlgen/graphql"
	genqlient "github.com/Khan/genqlient/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/order"
	"github.com/heraldhq/herald/ent/orders/orderitem"
	"github.com/heraldhq/herald/ent/orders/predicate"
	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/subgraphs/orders/model"
	"github.com/heraldhq/herald/subgraphs/orders/usersclient"
)

// EventSource is the ce_source of the events this service publishes.
const EventSource = "herald/orders"

// Resolver holds what the resolvers need. The *.resolvers.go files stay thin
// and call the methods below.
type Resolver struct {
	Client *entorders.Client
	Logger *slog.Logger
	// Users asks the users subgraph whether a user exists.
	Users genqlient.Client
	// UsersTimeout bounds that question.
	UsersTimeout time.Duration
	// Topic is where OrderCreated events go.
	Topic string
	// TopicCancelled is where OrderCancelled events go.
	TopicCancelled string
	// Notify wakes the outbox relay after a commit; may be nil.
	Notify func()
}

func (r *Resolver) createOrder(ctx context.Context, input model.CreateOrderInput) (*model.Order, error) {
	if err := identity.From(ctx).RequireUserOwner(input.UserID); err != nil {
		if ae, ok := apperr.As(err); ok && ae.Code == apperr.Forbidden {
			return nil, &apperr.Error{Code: apperr.Forbidden, Field: "input.userId", Message: "orders can only be created for your own user"}
		}
		return nil, err
	}
	draft, problems := ValidateOrderInput(input)
	if len(problems) > 0 {
		// Every problem is reported, in input order: gqlgen appends the
		// returned error after those added here, so the last one is returned.
		last := len(problems) - 1
		for _, p := range problems[:last] {
			graphql.AddError(ctx, p)
		}
		return nil, problems[last]
	}
	var hash *string
	if draft.IdempotencyKey != "" {
		h := RequestHash(draft)
		hash = &h
		// A retry: answer from what the first request stored, without
		// asking the users service again and without a new event.
		if o, err := r.replay(ctx, draft, h); o != nil || err != nil {
			return o, err
		}
	}
	if err := r.checkUser(ctx, draft.UserID); err != nil {
		return nil, err
	}

	now := dbNow()
	orderID, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("order id: %w", err)
	}
	eventID, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	ev := events.OrderCreated{
		OrderID:    orderID.String(),
		UserID:     draft.UserID,
		Items:      draft.Items,
		TotalMinor: draft.TotalMinor,
		Currency:   draft.Currency,
		CreatedAt:  now,
	}
	msg, err := events.Encode(r.Topic, draft.UserID, events.Envelope{
		ID:          eventID.String(),
		Source:      EventSource,
		Type:        events.TypeOrderCreated,
		Subject:     ev.OrderID,
		Time:        now,
		TraceParent: traceParent(ctx),
	}, ev)
	if err != nil {
		return nil, err
	}

	// The order, its items and the event commit together or not at all.
	var idemKey *string
	if draft.IdempotencyKey != "" {
		idemKey = &draft.IdempotencyKey
	}
	var saved *entorders.Order
	err = r.inTx(ctx, func(tx *entorders.Tx) error {
		o, err := tx.Order.Create().
			SetID(ev.OrderID).
			SetUserID(draft.UserID).
			SetCurrency(draft.Currency).
			SetTotalMinor(draft.TotalMinor).
			SetStatus(order.StatusCREATED).
			SetCreatedAt(now).
			SetUpdatedAt(now).
			SetNillableIdempotencyKey(idemKey).
			SetNillableRequestHash(hash).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		builders := make([]*entorders.OrderItemCreate, len(draft.Items))
		for i, it := range draft.Items {
			builders[i] = tx.OrderItem.Create().
				SetOrderID(o.ID).
				SetPosition(i).
				SetSku(it.SKU).
				SetName(it.Name).
				SetQuantity(it.Quantity).
				SetUnitPriceMinor(it.UnitPriceMinor)
		}
		items, err := tx.OrderItem.CreateBulk(builders...).Save(ctx)
		if err != nil {
			return fmt.Errorf("insert items: %w", err)
		}
		o.Edges.Items = items
		if err := insertOutbox(ctx, tx, eventID.String(), msg, now); err != nil {
			return err
		}
		saved = o
		return nil
	})
	if err != nil && hash != nil && sqlgraph.IsUniqueConstraintError(err) {
		// A concurrent request with the same key committed first: the
		// unique index, not a prior check, decides who wins.
		o, rerr := r.replay(ctx, draft, *hash)
		if o != nil || rerr != nil {
			return o, rerr
		}
		return nil, fmt.Errorf("idempotency key collided but no order holds it: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if r.Notify != nil {
		r.Notify()
	}
	r.Logger.InfoContext(ctx, "order created", "order_id", saved.ID, "user_id", saved.UserID,
		"event_id", eventID.String(), "items", len(draft.Items), "total_minor", saved.TotalMinor,
		"currency", saved.Currency, "idempotent", hash != nil)
	return toOrder(saved), nil
}

// replay returns the order a previous createOrder stored under the draft's
// user and idempotency key: the same order when the payload hashes alike,
// CONFLICT when it does not, and nil when the key is unused.
func (r *Resolver) replay(ctx context.Context, d Draft, hash string) (*model.Order, error) {
	o, err := findOrder(ctx, r.Client.Order, order.UserID(d.UserID), order.IdempotencyKey(d.IdempotencyKey))
	if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	if o == nil {
		return nil, nil
	}
	if o.RequestHash == nil || *o.RequestHash != hash {
		return nil, &apperr.Error{Code: apperr.Conflict, Field: "input.idempotencyKey",
			Message: "this idempotencyKey was already used for a different order; use a new key for a new order"}
	}
	r.Logger.InfoContext(ctx, "order replayed for its idempotency key", "order_id", o.ID, "user_id", o.UserID)
	return toOrder(o), nil
}

const maxReasonLen = 500

// cancelOrder moves a CREATED order to CANCELLED and, in the same
// transaction, queues OrderCancelled in the outbox.
func (r *Resolver) cancelOrder(ctx context.Context, id string, reason *string) (*model.Order, error) {
	var why *string
	if reason != nil {
		t := strings.TrimSpace(*reason)
		if utf8.RuneCountInString(t) > maxReasonLen || !printable(t) {
			return nil, apperr.Invalid("reason", "reason must be at most %d printable characters", maxReasonLen)
		}
		if t != "" {
			why = &t
		}
	}
	if id == "" || len(id) > maxIDLen {
		return nil, &apperr.Error{Code: apperr.NotFound, Field: "id", Message: "no order with this id"}
	}
	if err := r.requireOrderOwner(ctx, id); err != nil {
		return nil, err
	}
	now := dbNow()
	eventID, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	var saved *entorders.Order
	err = r.inTx(ctx, func(tx *entorders.Tx) error {
		// The status condition in the UPDATE is the check: of two
		// concurrent cancels only one changes a row (PostgreSQL re-reads
		// the condition after the first commits; SQLite has one writer).
		n, err := tx.Order.Update().
			Where(order.ID(id), order.StatusEQ(order.StatusCREATED)).
			SetStatus(order.StatusCANCELLED).
			SetCancelledAt(now).
			SetUpdatedAt(now).
			SetNillableCancelReason(why).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("cancel order: %w", err)
		}
		o, err := findOrder(ctx, tx.Order, order.ID(id))
		if err != nil {
			return fmt.Errorf("read order: %w", err)
		}
		if o == nil {
			return &apperr.Error{Code: apperr.NotFound, Field: "id", Message: "no order with this id"}
		}
		if n == 0 {
			msg := fmt.Sprintf("order is %s; only CREATED orders can be cancelled", o.Status)
			if o.CancelledAt != nil {
				msg = fmt.Sprintf("order was already cancelled at %s; only CREATED orders can be cancelled",
					o.CancelledAt.UTC().Format(time.RFC3339))
			}
			return &apperr.Error{Code: apperr.Conflict, Field: "id", Message: msg}
		}
		ev := events.OrderCancelled{
			OrderID:     o.ID,
			UserID:      o.UserID,
			TotalMinor:  o.TotalMinor,
			Currency:    o.Currency,
			CreatedAt:   o.CreatedAt.UTC(),
			CancelledAt: now,
		}
		if why != nil {
			ev.Reason = *why
		}
		msg, err := events.Encode(r.TopicCancelled, o.UserID, events.Envelope{
			ID:          eventID.String(),
			Source:      EventSource,
			Type:        events.TypeOrderCancelled,
			Subject:     o.ID,
			Time:        now,
			TraceParent: traceParent(ctx),
		}, ev)
		if err != nil {
			return err
		}
		if err := insertOutbox(ctx, tx, eventID.String(), msg, now); err != nil {
			return err
		}
		saved = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.Notify != nil {
		r.Notify()
	}
	r.Logger.InfoContext(ctx, "order cancelled", "order_id", saved.ID, "user_id", saved.UserID, "event_id", eventID.String())
	return toOrder(saved), nil
}

// dbNow is the current time as both databases keep it (microseconds, UTC,
// no monotonic reading), so a value written equals the value read back.
func dbNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in a transaction, committing when it returns nil.
func (r *Resolver) inTx(ctx context.Context, fn func(tx *entorders.Tx) error) error {
	tx, err := r.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// insertOutbox queues msg for the relay inside the caller's transaction.
func insertOutbox(ctx context.Context, tx *entorders.Tx, id string, msg stream.Message, at time.Time) error {
	if err := tx.OutboxEvent.Create().
		SetID(id).
		SetTopic(msg.Topic).
		SetKey(msg.Key).
		SetHeaders(msg.Headers).
		SetPayload(msg.Value).
		SetCreatedAt(at).
		Exec(ctx); err != nil {
		return fmt.Errorf("insert outbox: %w", err)
	}
	return nil
}

// checkUser asks the users subgraph whether id exists. No user is NOT_FOUND;
// a users service that cannot answer is UNAVAILABLE (the client may retry).
func (r *Resolver) checkUser(ctx context.Context, id string) error {
	if r.UsersTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.UsersTimeout)
		defer cancel()
	}
	resp, err := usersclient.UserExists(ctx, r.Users, id)
	var gqlErrs gqlerror.List
	switch {
	case err == nil && resp.User != nil:
		return nil
	case err == nil:
		return &apperr.Error{Code: apperr.NotFound, Field: "input.userId", Message: "no user with this id"}
	case errors.As(err, &gqlErrs) && rejectsID(gqlErrs):
		// The users service refused the id itself (say, not a UUID): as
		// far as the client is concerned there is no such user.
		return &apperr.Error{Code: apperr.NotFound, Field: "input.userId", Message: "no user with this id", Err: err}
	case errors.Is(ctx.Err(), context.Canceled):
		return err // the client went away; nothing to tell it
	default:
		r.Logger.WarnContext(ctx, "users service did not answer", "err", err)
		return apperr.Wrap(err, apperr.Unavailable, "the users service is unavailable; try again")
	}
}

func rejectsID(errs gqlerror.List) bool {
	if len(errs) == 0 {
		return false
	}
	for _, e := range errs {
		code, _ := e.Extensions["code"].(string)
		if code != string(apperr.BadUserInput) && code != string(apperr.NotFound) {
			return false
		}
	}
	return true
}

// findOrder reads the one order matching where, with its items in order;
// nil, and no error, when there is none. c is the client's or a
// transaction's, so a read inside a transaction sees its own writes.
func findOrder(ctx context.Context, c *entorders.OrderClient, where ...predicate.Order) (*entorders.Order, error) {
	o, err := c.Query().Where(where...).WithItems(itemsInOrder).Only(ctx)
	if entorders.IsNotFound(err) {
		return nil, nil
	}
	return o, err
}

func (r *Resolver) orderByID(ctx context.Context, id string) (*model.Order, error) {
	o, err := findOrder(ctx, r.Client.Order, order.ID(id))
	if err != nil {
		return nil, fmt.Errorf("get order: %w", err)
	}
	if o == nil {
		return nil, nil
	}
	if err := identity.From(ctx).RequireUserOwner(o.UserID); err != nil {
		return nil, err
	}
	return toOrder(o), nil
}

// requireOrderOwner refuses a caller who may not act on order id: its
// user and operators may (an unknown id is NOT_FOUND).
func (r *Resolver) requireOrderOwner(ctx context.Context, id string) error {
	caller := identity.From(ctx)
	if caller.Operator() {
		return nil
	}
	o, err := r.Client.Order.Query().Where(order.ID(id)).Select(order.FieldUserID).Only(ctx)
	if entorders.IsNotFound(err) {
		return &apperr.Error{Code: apperr.NotFound, Field: "id", Message: "no order with this id"}
	}
	if err != nil {
		return fmt.Errorf("get order: %w", err)
	}
	return caller.RequireUserOwner(o.UserID)
}

// itemsInOrder loads an order's items in the order the client listed them.
func itemsInOrder(q *entorders.OrderItemQuery) { q.Order(entorders.Asc(orderitem.FieldPosition)) }
