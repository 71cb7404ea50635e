package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/migrations"
	"github.com/heraldhq/herald/ent/orders/order"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/subgraphs/orders"
)

// countingDriver counts the statements the resolvers send to the database.
type countingDriver struct {
	dialect.Driver
	mu    sync.Mutex
	stmts []string
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.record(query)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.record(query)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) record(q string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stmts = append(d.stmts, q)
}

// take returns the statements counted since the last take.
func (d *countingDriver) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stmts
	d.stmts = nil
	return s
}

type batchError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type batchResponse struct {
	Data struct {
		Entities []json.RawMessage `json:"_entities"`
		Orders   *struct {
			Edges []struct {
				Node json.RawMessage `json:"node"`
			} `json:"edges"`
		} `json:"orders"`
	} `json:"data"`
	Errors []batchError `json:"errors"`
}

func postBatch(t *testing.T, url, query string, vars map[string]any) batchResponse {
	t.Helper()
	return postAs[batchResponse](t, url, query, vars, identity.Identity{Subject: "operator", Scopes: []string{identity.OperatorScope}})
}

const batchOrderFields = `id userId user { id } items { sku name quantity unitPriceMinor }
  totalMinor currency status createdAt updatedAt cancelledAt cancelReason`

// userOrdersQuery is what the router sends the orders subgraph for
// users(...) { edges { node { orders(...) { ... } } } }.
const userOrdersQuery = `query($reps: [_Any!]!, $first: Int, $status: OrderStatus) {
  _entities(representations: $reps) { ... on User { id orders(first: $first, status: $status) { ` + batchOrderFields + ` } }
    ... on Order { id currency } } }`

// seedBatchOrders writes orders for users user-000 … user-<n-1>: 0 to 12
// each, both statuses, one to three items, and pairs of orders with the
// same created_at so that the id decides their order.
func seedBatchOrders(t *testing.T, c *entorders.Client, n int) []string {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var users, orderIDs []string
	var builders []*entorders.OrderCreate
	for i := range n {
		u := fmt.Sprintf("user-%03d", i)
		users = append(users, u)
		for k := range (i * 7) % 13 {
			// Users interleave in time; orders k and k+1 share a timestamp.
			at := base.Add(time.Duration((k/2)*n+i) * time.Minute)
			id := uuid.NewString()
			orderIDs = append(orderIDs, id)
			b := c.Order.Create().SetID(id).SetUserID(u).SetCurrency("EUR").
				SetTotalMinor(int64(100 * (k + 1))).SetCreatedAt(at).SetUpdatedAt(at)
			if (i+k)%3 == 0 {
				b.SetStatus(order.StatusCANCELLED).SetCancelledAt(at.Add(time.Second)).
					SetUpdatedAt(at.Add(time.Second)).SetCancelReason(fmt.Sprintf("reason %d", k))
			}
			builders = append(builders, b)
		}
	}
	for start := 0; start < len(builders); start += 200 {
		if err := c.Order.CreateBulk(builders[start:min(len(builders), start+200)]...).Exec(ctx); err != nil {
			t.Fatalf("seed orders: %v", err)
		}
	}
	var items []*entorders.OrderItemCreate
	for j, id := range orderIDs {
		for p := range 1 + j%3 {
			items = append(items, c.OrderItem.Create().SetOrderID(id).SetPosition(p).
				SetSku(fmt.Sprintf("SKU-%d", p)).SetName(fmt.Sprintf("item %d of %s", p, id[:8])).
				SetQuantity(1+p).SetUnitPriceMinor(int64(50*(p+1))))
		}
	}
	for start := 0; start < len(items); start += 200 {
		if err := c.OrderItem.CreateBulk(items[start:min(len(items), start+200)]...).Exec(ctx); err != nil {
			t.Fatalf("seed items: %v", err)
		}
	}
	return users
}

// User.orders for the users of one _entities call takes a fixed number of
// queries (two per 100 users: the orders, then their items), where one user
// at a time takes two per user, and answers exactly what asking for each user
// alone and Query.orders(userId:) answer.
func TestUserOrdersBatchedPerEntitiesCall(t *testing.T) {
	for _, d := range []struct {
		name   string
		driver string
		dsn    func(t *testing.T) string
	}{
		{"sqlite", db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "orders.db") }},
		{"postgres", db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
	} {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := d.dsn(t)
			if err := (db.Settings{Driver: d.driver, DSN: dsn, Migrations: migrations.Set}).Migrate(ctx, logger(t)); err != nil {
				t.Fatal(err)
			}
			conn, err := db.Open(ctx, d.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			const nUsers = 150
			users := seedBatchOrders(t, entorders.NewClient(entorders.Driver(conn.Driver)), nUsers)

			counter := &countingDriver{Driver: conn.Driver}
			res := &orders.Resolver{Client: entorders.NewClient(entorders.Driver(counter)), Logger: logger(t)}
			srv := httptest.NewServer(identity.Middleware(orders.NewHandler(res, nil)))
			t.Cleanup(srv.Close)
			url := srv.URL + "/graphql"

			reps := func(ids []string) []any {
				out := make([]any, len(ids))
				for i, id := range ids {
					out[i] = map[string]any{"__typename": "User", "id": id}
				}
				return out
			}
			asJSON := func(raw json.RawMessage) any {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					t.Fatalf("decode %s: %v", raw, err)
				}
				return v
			}

			args := []map[string]any{
				{},                                  // first defaults to 20
				{"first": 3},                        // fewer than many users have
				{"first": 1},                        // the newer of two tied timestamps
				{"first": 2, "status": "CANCELLED"}, // status filter with a limit
				{"first": 100, "status": "CREATED"}, // every order in one status
				{"first": nil, "status": nil},       // explicit nulls: the defaults
			}
			for _, n := range []int{1, 2, 37, 100, 150} {
				for _, a := range args {
					vars := map[string]any{"reps": reps(users[:n])}
					for k, v := range a {
						vars[k] = v
					}
					counter.take()
					batched := postBatch(t, url, userOrdersQuery, vars)
					stmts := counter.take()
					if len(batched.Errors) > 0 || len(batched.Data.Entities) != n {
						t.Fatalf("n=%d %v: %d entities, errors %+v", n, a, len(batched.Data.Entities), batched.Errors)
					}
					// Per 100 users: one statement for the orders, and one
					// for their items unless there are none.
					want := 0
					for start := 0; start < n; start += 100 {
						want++
						for _, e := range batched.Data.Entities[start:min(n, start+100)] {
							var ent struct{ Orders []json.RawMessage }
							if err := json.Unmarshal(e, &ent); err != nil {
								t.Fatal(err)
							}
							if len(ent.Orders) > 0 {
								want++
								break
							}
						}
					}
					if len(stmts) != want {
						t.Fatalf("n=%d %v: %d statements, want %d:\n%s", n, a, len(stmts), want, stmts)
					}

					perUser := 0
					for i, u := range users[:n] {
						one := map[string]any{"reps": reps([]string{u})}
						for k, v := range a {
							one[k] = v
						}
						alone := postBatch(t, url, userOrdersQuery, one)
						perUser += len(counter.take())
						if len(alone.Errors) > 0 || len(alone.Data.Entities) != 1 {
							t.Fatalf("%s alone %v: %+v", u, a, alone.Errors)
						}
						if !bytes.Equal(batched.Data.Entities[i], alone.Data.Entities[0]) {
							t.Fatalf("n=%d %v: %s batched\n%s\nalone\n%s", n, a, u, batched.Data.Entities[i], alone.Data.Entities[0])
						}
					}
					if n == 100 || n == 150 {
						t.Logf("%s n=%d %v: batched %d statements, one user at a time %d", d.name, n, a, len(stmts), perUser)
					}
				}
			}

			// The same pages through the keyset path of Query.orders.
			for _, a := range args {
				batched := postBatch(t, url, userOrdersQuery, map[string]any{"reps": reps(users), "first": a["first"], "status": a["status"]})
				for i, u := range users {
					q := postBatch(t, url, `query($u: ID, $s: OrderStatus, $f: Int) { orders(userId: $u, status: $s, first: $f) {
					  edges { node { `+batchOrderFields+` } } } }`, map[string]any{"u": u, "s": a["status"], "f": a["first"]})
					if len(q.Errors) > 0 || q.Data.Orders == nil {
						t.Fatalf("orders(userId: %s) %v: %+v", u, a, q.Errors)
					}
					nodes := make([]any, 0)
					for _, e := range q.Data.Orders.Edges {
						nodes = append(nodes, asJSON(e.Node))
					}
					var ent struct {
						ID     string          `json:"id"`
						Orders json.RawMessage `json:"orders"`
					}
					if err := json.Unmarshal(batched.Data.Entities[i], &ent); err != nil || ent.ID != u {
						t.Fatalf("entity %d: %s", i, batched.Data.Entities[i])
					}
					if got := asJSON(ent.Orders); !reflect.DeepEqual(got, nodes) {
						t.Fatalf("%s %v: User.orders\n%v\nQuery.orders\n%v", u, a, got, nodes)
					}
				}
			}

			// Users among other entities, repeated, unknown, and aliased
			// fields with their own arguments: each alias is one batch.
			var someOrder string
			if err := conn.SQL.QueryRowContext(ctx, `SELECT id FROM orders ORDER BY id LIMIT 1`).Scan(&someOrder); err != nil {
				t.Fatal(err)
			}
			mixed := []any{
				map[string]any{"__typename": "User", "id": users[5]},
				map[string]any{"__typename": "Order", "id": someOrder},
				map[string]any{"__typename": "User", "id": "nobody"},
				map[string]any{"__typename": "User", "id": users[5]},
				map[string]any{"__typename": "Order", "id": "missing"},
				map[string]any{"__typename": "User", "id": users[12]},
			}
			const aliased = `query($reps: [_Any!]!) { _entities(representations: $reps) {
			  ... on User { id newest: orders(first: 2) { id createdAt } cancelled: orders(status: CANCELLED) { id status } all: orders { id items { sku } } }
			  ... on Order { id userId } } }`
			counter.take()
			got := postBatch(t, url, aliased, map[string]any{"reps": mixed})
			stmts := counter.take()
			if len(got.Errors) > 0 || len(got.Data.Entities) != len(mixed) {
				t.Fatalf("mixed: %+v", got.Errors)
			}
			// Three aliases × (orders + items), and the two Order lookups
			// (the missing one loads no items).
			if len(stmts) != 3*2+2+1 {
				t.Errorf("mixed: %d statements, want 9:\n%s", len(stmts), stmts)
			}
			for i, r := range mixed {
				alone := postBatch(t, url, aliased, map[string]any{"reps": []any{r}})
				if len(alone.Errors) > 0 || !bytes.Equal(got.Data.Entities[i], alone.Data.Entities[0]) {
					t.Errorf("mixed %d: batched %s, alone %s %+v", i, got.Data.Entities[i], alone.Data.Entities[0], alone.Errors)
				}
			}

			// A bad argument fails every user's field, each at its own path,
			// as it did one user at a time, and reads nothing.
			const n = 37
			counter.take()
			bad := postBatch(t, url, userOrdersQuery, map[string]any{"reps": reps(users[:n]), "first": 0})
			if stmts := counter.take(); len(stmts) != 0 {
				t.Errorf("first: 0 ran %d statements", len(stmts))
			}
			if len(bad.Errors) != n || len(bad.Data.Entities) != n {
				t.Fatalf("first: 0: %d errors, %d entities, want %d of each", len(bad.Errors), len(bad.Data.Entities), n)
			}
			paths := map[string]bool{}
			for _, e := range bad.Errors {
				if e.Extensions["code"] != "BAD_USER_INPUT" || e.Extensions["field"] != "first" {
					t.Errorf("first: 0: error %+v", e)
				}
				paths[fmt.Sprint(e.Path)] = true
			}
			for i := range n {
				if p := fmt.Sprint([]any{"_entities", float64(i), "orders"}); !paths[p] {
					t.Errorf("first: 0: no error at %s", p)
				}
				if string(bad.Data.Entities[i]) != "null" {
					t.Errorf("first: 0: entity %d is %s, want null", i, bad.Data.Entities[i])
				}
			}
		})
	}
}
