package orders

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect/sql"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/order"
	"github.com/heraldhq/herald/ent/orders/predicate"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/subgraphs/orders/model"
)

// maxBatchUsers is how many users one batched User.orders statement covers.
// The router asks for at most a page of users at a time (users and orders
// pages hold at most 100), so a page costs one statement for the orders and
// one for their items; larger batches are split, which keeps the statement,
// its plan and the items' IN list (up to maxBatchUsers × maxPageSize ids,
// below SQLite's and PostgreSQL's bind-parameter limits) bounded.
const maxBatchUsers = 100

// ordersOfUsers serves the federated User.orders for users resolved side by
// side (gqlgen's batch resolver: every User of one _entities call, say):
// each user's newest page, newest first, exactly what asking for each user
// alone returns, in a fixed number of queries instead of two per user.
// An invalid argument fails the field of every user, as it did per user.
func (r *Resolver) ordersOfUsers(ctx context.Context, users []*model.User, first *int, status *model.OrderStatus) ([][]model.Order, error) {
	n, err := pageSize(first)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(users))
	seen := make(map[string]bool, len(users))
	caller := identity.From(ctx)
	for _, u := range users {
		// Another user's orders are not the caller's to see: their list
		// stays empty (the users subgraph already refused their user).
		if u != nil && !seen[u.ID] && caller.OwnsUser(u.ID) {
			seen[u.ID] = true
			ids = append(ids, u.ID)
		}
	}
	byUser := make(map[string][]model.Order, len(ids))
	for start := 0; start < len(ids); start += maxBatchUsers {
		rows, err := r.Client.Order.Query().
			Where(newestOf(ids[start:min(len(ids), start+maxBatchUsers)], status, n)).
			Order(entorders.Desc(order.FieldCreatedAt), entorders.Desc(order.FieldID)).
			WithItems(itemsInOrder).
			All(ctx)
		if err != nil {
			return nil, fmt.Errorf("list orders: %w", err)
		}
		// Rows come newest first, so each user's share does too.
		for _, o := range rows {
			byUser[o.UserID] = append(byUser[o.UserID], *toOrder(o))
		}
	}
	out := make([][]model.Order, len(users))
	for i, u := range users {
		out[i] = []model.Order{}
		if u != nil && byUser[u.ID] != nil {
			out[i] = byUser[u.ID]
		}
	}
	return out, nil
}

// newestOf keeps the orders that are among the limit newest of their user
// (in status, when given), for each of userIDs. Every user gets the query
// User.orders ran for one user, ORDER BY ... LIMIT on the (user_id,
// created_at, id) index, as one branch of a UNION ALL:
//
//	id IN (SELECT id FROM (SELECT id FROM orders WHERE user_id = $1
//	         ORDER BY created_at DESC, id DESC LIMIT n) AS p
//	       UNION ALL SELECT id FROM (... user_id = $2 ...) AS p ...)
//
// so each user costs the same index range scan as before, however many
// orders the user has (a window function over the users' orders would read
// all of them), and the database's own ordering decides which rows are the
// newest, on PostgreSQL and SQLite alike. The inner SELECT is wrapped because
// SQLite allows ORDER BY and LIMIT only at the end of a compound SELECT.
func newestOf(userIDs []string, status *model.OrderStatus, limit int) predicate.Order {
	return func(s *sql.Selector) {
		b := sql.Dialect(s.Dialect())
		var union *sql.Selector
		for _, id := range userIDs {
			t := sql.Table(order.Table).As("o")
			page := b.Select(t.C(order.FieldID)).From(t).Where(sql.EQ(t.C(order.FieldUserID), id))
			if status != nil {
				page.Where(sql.EQ(t.C(order.FieldStatus), string(*status)))
			}
			page.OrderBy(sql.Desc(t.C(order.FieldCreatedAt)), sql.Desc(t.C(order.FieldID))).
				Limit(limit).
				As("p")
			branch := b.Select(page.C(order.FieldID)).From(page)
			if union == nil {
				union = branch
			} else {
				union.UnionAll(branch)
			}
		}
		if union == nil {
			s.Where(sql.False())
			return
		}
		s.Where(sql.In(s.C(order.FieldID), union))
	}
}
