package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	genqlient "github.com/Khan/genqlient/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/order"
	"github.com/heraldhq/herald/ent/orders/orderitem"
	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/events"
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
	// Notify wakes the outbox relay after a commit; may be nil.
	Notify func()
}

func (r *Resolver) createOrder(ctx context.Context, input model.CreateOrderInput) (*model.Order, error) {
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
	if err := r.checkUser(ctx, draft.UserID); err != nil {
		return nil, err
	}

	now := time.Now().UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
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
	tx, err := r.Client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	saved, err := func() (*entorders.Order, error) {
		o, err := tx.Order.Create().
			SetID(ev.OrderID).
			SetUserID(draft.UserID).
			SetCurrency(draft.Currency).
			SetTotalMinor(draft.TotalMinor).
			SetStatus(order.StatusCREATED).
			SetCreatedAt(now).
			Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("insert order: %w", err)
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
			return nil, fmt.Errorf("insert items: %w", err)
		}
		o.Edges.Items = items
		if err := tx.OutboxEvent.Create().
			SetID(eventID.String()).
			SetTopic(msg.Topic).
			SetKey(msg.Key).
			SetHeaders(msg.Headers).
			SetPayload(msg.Value).
			SetCreatedAt(now).
			Exec(ctx); err != nil {
			return nil, fmt.Errorf("insert outbox: %w", err)
		}
		return o, nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit order: %w", err)
	}
	if r.Notify != nil {
		r.Notify()
	}
	r.Logger.InfoContext(ctx, "order created", "order_id", saved.ID, "user_id", saved.UserID,
		"event_id", eventID.String(), "items", len(draft.Items), "total_minor", saved.TotalMinor, "currency", saved.Currency)
	return toOrder(saved), nil
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

func (r *Resolver) orderByID(ctx context.Context, id string) (*model.Order, error) {
	o, err := r.Client.Order.Query().
		Where(order.ID(id)).
		WithItems(func(q *entorders.OrderItemQuery) { q.Order(entorders.Asc(orderitem.FieldPosition)) }).
		Only(ctx)
	if entorders.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get order: %w", err)
	}
	return toOrder(o), nil
}

func (r *Resolver) ordersOfUser(ctx context.Context, userID string) ([]model.Order, error) {
	os, err := r.Client.Order.Query().
		Where(order.UserID(userID)).
		Order(entorders.Desc(order.FieldCreatedAt), entorders.Desc(order.FieldID)).
		WithItems(func(q *entorders.OrderItemQuery) { q.Order(entorders.Asc(orderitem.FieldPosition)) }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	out := make([]model.Order, len(os))
	for i, o := range os {
		out[i] = *toOrder(o)
	}
	return out, nil
}
