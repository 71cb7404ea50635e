package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/ent/orders/order"
	"github.com/heraldhq/herald/ent/orders/outboxevent"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/testenv"
)

var databases = []struct {
	name, driver string
	dsn          func(t *testing.T) string
}{
	{"sqlite", db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "orders.db") }},
	{"postgres", db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
}

// onEachDatabase runs test against an orders subgraph on each database,
// all of them calling one users subgraph at usersURL.
func onEachDatabase(t *testing.T, test func(t *testing.T, dbName string, s *stack, usersURL string)) {
	usersURL := startUsers(t)
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) { test(t, d.name, startOrders(t, d.driver, d.dsn(t), usersURL), usersURL) })
	}
}

const createFull = `mutation($in: CreateOrderInput!) {
  createOrder(input: $in) { id status totalMinor createdAt updatedAt cancelledAt cancelReason }
}`

type orderState struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	TotalMinor   int64      `json:"totalMinor"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	CancelledAt  *time.Time `json:"cancelledAt"`
	CancelReason *string    `json:"cancelReason"`
}

// create posts createOrder and returns the order, or the errors.
func create(t *testing.T, url string, in map[string]any) (orderState, []gqlError) {
	t.Helper()
	r := post(t, url, createFull, map[string]any{"in": in})
	var d struct{ CreateOrder *orderState }
	if err := json.Unmarshal(r.Data, &d); err != nil && len(r.Errors) == 0 {
		t.Fatalf("createOrder: %s: %v", r.Data, err)
	}
	if d.CreateOrder == nil {
		return orderState{}, r.Errors
	}
	return *d.CreateOrder, r.Errors
}

func mustCreate(t *testing.T, url string, in map[string]any) orderState {
	t.Helper()
	o, errs := create(t, url, in)
	if len(errs) > 0 || o.ID == "" {
		t.Fatalf("createOrder: %+v", errs)
	}
	return o
}

func withKey(in map[string]any, key string) map[string]any {
	in["idempotencyKey"] = key
	return in
}

func wantError(t *testing.T, what string, errs []gqlError, code, field string) {
	t.Helper()
	if len(errs) != 1 || errs[0].Extensions["code"] != code || errs[0].Extensions["field"] != field {
		t.Fatalf("%s: errors %+v, want one %s on %s", what, errs, code, field)
	}
}

func TestIdempotentCreateOrder(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, dbName string, s *stack, usersURL string) {
		ada := registerUser(t, usersURL, "ada-idem-"+dbName+"@example.com")
		bob := registerUser(t, usersURL, "bob-idem-"+dbName+"@example.com")
		ctx := context.Background()

		first := mustCreate(t, s.ordersURL, withKey(orderInput(ada), "checkout-1"))
		// The same order again, sent a little differently (blanks
		// around a sku are trimmed before storing): the same order.
		again := withKey(orderInput(ada), "checkout-1")
		item(again, 0)["sku"] = "  TEA-1 "
		if o := mustCreate(t, s.ordersURL, again); o.ID != first.ID || !o.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("retry returned %+v, want the first order %+v", o, first)
		}

		// The same key with a different order is refused, whatever differs.
		for name, edit := range map[string]func(in map[string]any){
			"quantity": func(in map[string]any) { item(in, 0)["quantity"] = 4 },
			"price":    func(in map[string]any) { item(in, 1)["unitPriceMinor"] = 1201 },
			"currency": func(in map[string]any) { in["currency"] = "USD" },
			"name":     func(in map[string]any) { item(in, 1)["name"] = "Mug" },
			"line order": func(in map[string]any) {
				items := in["items"].([]any)
				items[0], items[1] = items[1], items[0]
			},
		} {
			in := withKey(orderInput(ada), "checkout-1")
			edit(in)
			_, errs := create(t, s.ordersURL, in)
			wantError(t, name, errs, "CONFLICT", "input.idempotencyKey")
		}

		// Keys are scoped per user: Bob's checkout-1 is his own order.
		bobs := mustCreate(t, s.ordersURL, withKey(orderInput(bob), "checkout-1"))
		if bobs.ID == first.ID {
			t.Fatal("another user's key returned Ada's order")
		}

		// A malformed key is bad input, and so stores nothing.
		for _, key := range []string{"", "has space", strings.Repeat("k", 201), "naïve"} {
			_, errs := create(t, s.ordersURL, withKey(orderInput(ada), key))
			wantError(t, fmt.Sprintf("key %q", key), errs, "BAD_USER_INPUT", "input.idempotencyKey")
		}

		// Concurrent retries with one new key: the unique index lets
		// exactly one insert win and every caller gets its order.
		const n = 8
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				o, errs := create(t, s.ordersURL, withKey(orderInput(ada), "checkout-race"))
				if len(errs) > 0 {
					t.Errorf("concurrent createOrder %d: %+v", i, errs)
				}
				ids[i] = o.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] || id == "" {
				t.Fatalf("concurrent retries returned %v, want one id", ids)
			}
		}
		if c := s.client.Order.Query().Where(order.IdempotencyKey("checkout-race")).CountX(ctx); c != 1 {
			t.Fatalf("%d orders hold checkout-race, want 1", c)
		}
		// Three orders, three events: retries queued nothing.
		if got := s.countRows(t); got[0] != 3 || got[2] != 3 {
			t.Fatalf("rows (orders, items, outbox) = %v, want 3 orders and 3 outbox rows", got)
		}
	})
}

const cancelMutation = `mutation($id: ID!, $reason: String) {
  cancelOrder(id: $id, reason: $reason) { id status totalMinor createdAt updatedAt cancelledAt cancelReason }
}`

func cancel(t *testing.T, url, id string, reason any) (orderState, []gqlError) {
	t.Helper()
	r := post(t, url, cancelMutation, map[string]any{"id": id, "reason": reason})
	var d struct{ CancelOrder *orderState }
	_ = json.Unmarshal(r.Data, &d)
	if d.CancelOrder == nil {
		return orderState{}, r.Errors
	}
	return *d.CancelOrder, r.Errors
}

func TestCancelOrder(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, dbName string, s *stack, usersURL string) {
		userID := registerUser(t, usersURL, "ada-cancel-"+dbName+"@example.com")
		cancelled := s.consumeTopic(t, s.topicCancelled)

		o := mustCreate(t, s.ordersURL, orderInput(userID))
		if o.Status != "CREATED" || !o.UpdatedAt.Equal(o.CreatedAt) || o.CancelledAt != nil || o.CancelReason != nil {
			t.Fatalf("new order %+v", o)
		}

		_, errs := cancel(t, s.ordersURL, o.ID, strings.Repeat("x", 501))
		wantError(t, "long reason", errs, "BAD_USER_INPUT", "reason")
		_, errs = cancel(t, s.ordersURL, uuid.NewString(), nil)
		wantError(t, "unknown order", errs, "NOT_FOUND", "id")

		c, errs := cancel(t, s.ordersURL, o.ID, "  changed my mind ")
		if len(errs) > 0 {
			t.Fatalf("cancelOrder: %+v", errs)
		}
		if c.ID != o.ID || c.Status != "CANCELLED" || c.CancelledAt == nil || !c.UpdatedAt.Equal(*c.CancelledAt) ||
			c.CancelledAt.Before(o.CreatedAt) || c.CancelReason == nil || *c.CancelReason != "changed my mind" ||
			!c.CreatedAt.Equal(o.CreatedAt) {
			t.Fatalf("cancelled order %+v", c)
		}
		// Only CREATED orders can be cancelled.
		_, errs = cancel(t, s.ordersURL, o.ID, nil)
		wantError(t, "second cancel", errs, "CONFLICT", "id")
		if !strings.Contains(errs[0].Message, "already cancelled") {
			t.Errorf("message %q does not say why", errs[0].Message)
		}

		m := receive(t, cancelled)
		var ev events.OrderCancelled
		env, err := events.Decode(m, events.TypeOrderCancelled, &ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		if m.Key != userID || env.Subject != o.ID || ev.OrderID != o.ID || ev.UserID != userID ||
			ev.Reason != "changed my mind" || ev.TotalMinor != 2550 || ev.Currency != "EUR" ||
			!ev.CancelledAt.Equal(*c.CancelledAt) || !ev.CreatedAt.Equal(o.CreatedAt) {
			t.Fatalf("OrderCancelled %+v (envelope %+v)", ev, env)
		}

		// Two cancels racing for one order: exactly one wins.
		o2 := mustCreate(t, s.ordersURL, orderInput(userID))
		var wg sync.WaitGroup
		codes := make([]string, 4)
		for i := range codes {
			wg.Go(func() {
				_, errs := cancel(t, s.ordersURL, o2.ID, nil)
				codes[i] = "OK"
				if len(errs) > 0 {
					codes[i] = fmt.Sprint(errs[0].Extensions["code"])
				}
			})
		}
		wg.Wait()
		if strings.Count(strings.Join(codes, " "), "OK") != 1 || strings.Count(strings.Join(codes, " "), "CONFLICT") != 3 {
			t.Fatalf("racing cancels: %v, want one OK and three CONFLICT", codes)
		}
		ctx := context.Background()
		if n := s.client.OutboxEvent.Query().Where(outboxevent.Topic(s.topicCancelled)).CountX(ctx); n != 2 {
			t.Fatalf("%d OrderCancelled outbox rows, want 2", n)
		}
		m = receive(t, cancelled)
		if m.Header(events.HeaderSubject) != o2.ID {
			t.Fatalf("second OrderCancelled is about %s, want %s", m.Header(events.HeaderSubject), o2.ID)
		}
	})
}

func TestListOrders(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			usersURL := startUsers(t)
			s := startOrders(t, d.driver, d.dsn(t), usersURL)
			ctx := context.Background()
			// Rows written directly, so that several share one created_at
			// (the id breaks the tie) and statuses differ.
			base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			var all []string // expected order: newest first, then id descending
			type row struct {
				id, user, status string
				at               time.Time
			}
			var rows []row
			for i := range 9 {
				at := base.Add(time.Duration(i/3) * time.Second) // three per instant
				user := "u1"
				if i%4 == 3 {
					user = "u2"
				}
				status := "CREATED"
				if i%3 == 1 {
					status = "CANCELLED"
				}
				rows = append(rows, row{fmt.Sprintf("00000000-0000-7000-8000-%012d", i), user, status, at.Add(123 * time.Microsecond)})
			}
			for _, r := range rows {
				s.client.Order.Create().SetID(r.id).SetUserID(r.user).SetCurrency("EUR").SetTotalMinor(100).
					SetStatus(order.Status(r.status)).SetCreatedAt(r.at).SetUpdatedAt(r.at).ExecX(ctx)
				s.client.OrderItem.Create().SetOrderID(r.id).SetPosition(0).SetSku("S").SetName("N").
					SetQuantity(1).SetUnitPriceMinor(100).ExecX(ctx)
			}
			for i := len(rows) - 1; i >= 0; i-- {
				all = append(all, rows[i].id)
			}
			filter := func(keep func(r row) bool) []string {
				var out []string
				for i := len(rows) - 1; i >= 0; i-- {
					if keep(rows[i]) {
						out = append(out, rows[i].id)
					}
				}
				return out
			}

			const q = `query($u: ID, $s: OrderStatus, $first: Int, $after: String) {
  orders(userId: $u, status: $s, first: $first, after: $after) {
    edges { cursor node { id userId status items { sku } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } }`
			type page struct {
				Orders struct {
					Edges []struct {
						Cursor string
						Node   struct{ ID, UserID, Status string }
					}
					PageInfo struct {
						HasNextPage, HasPreviousPage bool
						StartCursor, EndCursor       *string
					}
				}
			}
			walk := func(vars map[string]any) []string {
				var ids []string
				var after any
				for range 20 {
					vars["after"] = after
					r := post(t, s.ordersURL, q, vars)
					var p page
					if len(r.Errors) > 0 || json.Unmarshal(r.Data, &p) != nil {
						t.Fatalf("orders(%v): %s %+v", vars, r.Data, r.Errors)
					}
					for _, e := range p.Orders.Edges {
						ids = append(ids, e.Node.ID)
					}
					pi := p.Orders.PageInfo
					if pi.HasPreviousPage || (len(p.Orders.Edges) > 0 && (*pi.EndCursor != p.Orders.Edges[len(p.Orders.Edges)-1].Cursor ||
						*pi.StartCursor != p.Orders.Edges[0].Cursor)) {
						t.Fatalf("pageInfo %+v", pi)
					}
					if !pi.HasNextPage {
						return ids
					}
					after = *pi.EndCursor
				}
				t.Fatal("more than 20 pages")
				return nil
			}
			cases := []struct {
				name string
				vars map[string]any
				want []string
			}{
				{"all, pages of 2", map[string]any{"first": 2}, all},
				{"all, one page", map[string]any{"first": 100}, all},
				{"all, default size", map[string]any{}, all},
				{"one user, pages of 3", map[string]any{"u": "u1", "first": 3}, filter(func(r row) bool { return r.user == "u1" })},
				{"cancelled, pages of 1", map[string]any{"s": "CANCELLED", "first": 1}, filter(func(r row) bool { return r.status == "CANCELLED" })},
				{"user and status", map[string]any{"u": "u2", "s": "CREATED", "first": 1}, filter(func(r row) bool { return r.user == "u2" && r.status == "CREATED" })},
				{"nobody", map[string]any{"u": "u3"}, nil},
			}
			for _, c := range cases {
				if got := walk(c.vars); fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
				}
			}

			for _, c := range []struct {
				vars  map[string]any
				field string
			}{
				{map[string]any{"first": 0}, "first"},
				{map[string]any{"first": 101}, "first"},
				{map[string]any{"after": "not a cursor"}, "after"},
				{map[string]any{"after": "bzE6eDp5"}, "after"}, // "o1:x:y"
			} {
				r := post(t, s.ordersURL, q, c.vars)
				wantError(t, fmt.Sprint(c.vars), r.Errors, "BAD_USER_INPUT", c.field)
			}

			// The federated User.orders: the newest page, capped by first.
			r := post(t, s.ordersURL, `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id
				newest: orders(first: 2) { id } cancelled: orders(status: CANCELLED) { id } all: orders { id } } } }`,
				map[string]any{"reps": []any{map[string]any{"__typename": "User", "id": "u1"}}})
			var ents struct {
				Entities []struct {
					Newest, Cancelled, All []struct{ ID string }
				} `json:"_entities"`
			}
			if len(r.Errors) > 0 || json.Unmarshal(r.Data, &ents) != nil || len(ents.Entities) != 1 {
				t.Fatalf("_entities: %s %+v", r.Data, r.Errors)
			}
			ids := func(os []struct{ ID string }) []string {
				var out []string
				for _, o := range os {
					out = append(out, o.ID)
				}
				return out
			}
			u1 := filter(func(r row) bool { return r.user == "u1" })
			e := ents.Entities[0]
			if fmt.Sprint(ids(e.Newest)) != fmt.Sprint(u1[:2]) || fmt.Sprint(ids(e.All)) != fmt.Sprint(u1) ||
				fmt.Sprint(ids(e.Cancelled)) != fmt.Sprint(filter(func(r row) bool { return r.user == "u1" && r.status == "CANCELLED" })) {
				t.Fatalf("User.orders: %s", r.Data)
			}
			r = post(t, s.ordersURL, `{ _entities(representations: [{__typename: "User", id: "u1"}]) { ... on User { orders(first: 500) { id } } } }`, nil)
			wantError(t, "User.orders(first: 500)", r.Errors, "BAD_USER_INPUT", "first")
		})
	}
}

// Done-when of issue 3: creating the same order twice with one idempotency
// key yields one order and one OrderCreated, checked by consuming the real
// topic on Kafka and on NATS JetStream.
func TestIdempotentCreatePublishesOnceOnRealBrokers(t *testing.T) {
	usersURL := startUsers(t)
	brokers := []struct {
		name string
		open func(t *testing.T) stream.Broker
	}{
		{"kafka", func(t *testing.T) stream.Broker {
			b, err := kafka.New(context.Background(), kafka.Config{Brokers: testenv.Kafka(t).Brokers, Partitions: 2}, logger(t))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"nats", func(t *testing.T) stream.Broker {
			b, err := nats.New(context.Background(), nats.Config{URL: testenv.NATS(t), Partitions: 2}, logger(t))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			b := br.open(t)
			t.Cleanup(func() { _ = b.Close() })
			s := startOrdersOn(t, db.SQLite, filepath.Join(t.TempDir(), "orders.db"), usersURL, b)
			userID := registerUser(t, usersURL, "ada-once-"+br.name+"@example.com")
			msgs := s.consume(t)

			key := "checkout-" + uuid.NewString()
			first := mustCreate(t, s.ordersURL, withKey(orderInput(userID), key))
			second := mustCreate(t, s.ordersURL, withKey(orderInput(userID), key))
			if second.ID != first.ID {
				t.Fatalf("second createOrder returned order %s, want %s", second.ID, first.ID)
			}
			// A sentinel order with the same key (user id) goes to the same
			// partition after anything the two calls published: once it
			// arrives, every earlier message has too.
			sentinel := mustCreate(t, s.ordersURL, withKey(orderInput(userID), key+"-sentinel"))

			perOrder := map[string]int{}
			for perOrder[sentinel.ID] == 0 {
				m := receive(t, msgs)
				var ev events.OrderCreated
				if _, err := events.Decode(m, events.TypeOrderCreated, &ev); err != nil {
					t.Fatal(err)
				}
				perOrder[ev.OrderID]++
			}
			if perOrder[first.ID] != 1 || len(perOrder) != 2 {
				t.Fatalf("OrderCreated per order: %v, want exactly one for %s and one for the sentinel", perOrder, first.ID)
			}
			if n := s.client.Order.Query().CountX(context.Background()); n != 2 {
				t.Fatalf("%d orders stored, want 2", n)
			}
		})
	}
}

// A database failure is INTERNAL to the client, without its details (the
// log has them).
func TestInternalErrorsHideDetails(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "orders.db")
	s := startOrders(t, db.SQLite, dsn, "http://127.0.0.1:1/graphql")
	conn, err := db.Open(context.Background(), db.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	at := time.Now().UTC()
	s.client.Order.Create().SetID(uuid.NewString()).SetUserID("u").SetCurrency("EUR").SetTotalMinor(0).
		SetCreatedAt(at).SetUpdatedAt(at).ExecX(context.Background())
	if _, err := conn.SQL.ExecContext(context.Background(), "DROP TABLE order_items"); err != nil {
		t.Fatal(err)
	}
	r := post(t, s.ordersURL, `{ orders { edges { node { id items { sku } } } } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INTERNAL" {
		t.Fatalf("errors %+v, want one INTERNAL", r.Errors)
	}
	if m := r.Errors[0].Message; strings.Contains(m, "order_items") || strings.Contains(m, "table") {
		t.Fatalf("message %q leaks the cause", m)
	}
}
