package orders

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/order"
	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/subgraphs/orders/model"
)

// Page sizes of orders(first:) and User.orders(first:). The cap keeps one
// request, and one federated User.orders fan-out, bounded.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

func pageSize(first *int) (int, error) {
	if first == nil {
		return defaultPageSize, nil
	}
	if *first < 1 || *first > maxPageSize {
		return 0, apperr.Invalid("first", "first must be between 1 and %d", maxPageSize)
	}
	return *first, nil
}

// A cursor names the last order of a page by its sort key (created_at, id);
// the next page starts strictly after it. Keyset pagination: a page costs an
// index range scan however deep it is, and orders created meanwhile never
// shift or repeat rows. The encoding is opaque to clients and versioned.
const cursorVersion = "o1"

func encodeCursor(o *entorders.Order) string {
	raw := cursorVersion + ":" + strconv.FormatInt(o.CreatedAt.UnixMicro(), 10) + ":" + o.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (time.Time, string, error) {
	bad := apperr.Invalid("after", "after is not a cursor returned by orders")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", bad
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != cursorVersion || parts[2] == "" || len(parts[2]) > 36 {
		return time.Time{}, "", bad
	}
	micros, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(micros).UTC(), parts[2], nil
}

// query lists orders newest first (ties by id, descending), limit rows
// after the cursor position when one is given.
func (r *Resolver) query(ctx context.Context, userID *string, status *model.OrderStatus, limit int, after *string) ([]*entorders.Order, error) {
	q := r.Client.Order.Query()
	if userID != nil {
		q.Where(order.UserID(*userID))
	}
	if status != nil {
		q.Where(order.StatusEQ(order.Status(*status)))
	}
	if after != nil {
		t, id, err := decodeCursor(*after)
		if err != nil {
			return nil, err
		}
		q.Where(order.Or(order.CreatedAtLT(t), order.And(order.CreatedAt(t), order.IDLT(id))))
	}
	rows, err := q.
		Order(entorders.Desc(order.FieldCreatedAt), entorders.Desc(order.FieldID)).
		Limit(limit).
		WithItems(itemsInOrder).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return rows, nil
}

// listOrders serves Query.orders as a Relay connection (forwards only).
func (r *Resolver) listOrders(ctx context.Context, userID *string, status *model.OrderStatus, first *int, after *string) (*model.OrderConnection, error) {
	// A user lists their own orders only; an operator anyone's, or all.
	if caller := identity.From(ctx); !caller.Operator() {
		if err := caller.RequireUser(); err != nil {
			return nil, err
		}
		own := identity.UserID(caller.Subject)
		if userID != nil && *userID != own {
			return nil, &apperr.Error{Code: apperr.Forbidden, Field: "userId", Message: "you may only list your own orders"}
		}
		userID = &own
	}
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	rows, err := r.query(ctx, userID, status, n+1, after) // one more tells whether a next page exists
	if err != nil {
		return nil, err
	}
	conn := &model.OrderConnection{PageInfo: &model.PageInfo{HasNextPage: len(rows) > n}}
	rows = rows[:min(len(rows), n)]
	conn.Edges = make([]model.OrderEdge, len(rows))
	for i, o := range rows {
		conn.Edges[i] = model.OrderEdge{Cursor: encodeCursor(o), Node: toOrder(o)}
	}
	if len(rows) > 0 {
		start, end := conn.Edges[0].Cursor, conn.Edges[len(rows)-1].Cursor
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &start, &end
	}
	return conn, nil
}
