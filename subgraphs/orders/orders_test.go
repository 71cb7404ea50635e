package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/outboxevent"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testrun"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/subgraphs/orders"
	"github.com/heraldhq/herald/subgraphs/users"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// These tests run the real services in-process: the users subgraph (on
// SQLite), the orders subgraph on SQLite or PostgreSQL, and NATS JetStream
// through internal/stream/nats. Nothing is faked.

type stack struct {
	ordersURL string
	usersURL  string
	topic     string
	// topicCancelled carries OrderCancelled.
	topicCancelled string
	natsURL        string
	broker         stream.Broker
	client         *entorders.Client // a second connection, to inspect the tables
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func startUsers(t *testing.T) string {
	cfg := users.Config{HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "users.db")}}
	return testrun.Start(t, "users", func(ctx context.Context, ready func(net.Addr)) error {
		return users.Run(ctx, cfg, users.Deps{Logger: logger(t), Ready: ready})
	}).URL() + "/graphql"
}

func startOrders(t *testing.T, driver, dsn, usersURL string) *stack {
	t.Helper()
	natsURL := testenv.NATS(t)
	b, err := nats.New(context.Background(), nats.Config{URL: natsURL, Partitions: 2}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	s := startOrdersOn(t, driver, dsn, usersURL, b)
	s.natsURL = natsURL
	return s
}

// startOrdersOn runs the orders service publishing to broker b, on topics
// of its own.
func startOrdersOn(t *testing.T, driver, dsn, usersURL string, b stream.Broker) *stack {
	t.Helper()
	suffix := uuid.NewString()[:8]
	s := &stack{usersURL: usersURL, topic: "OrderCreated-" + suffix, topicCancelled: "OrderCancelled-" + suffix, broker: b}
	cfg := orders.Config{
		HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: driver, DSN: dsn},
		UsersURL: usersURL, UsersTimeout: 5 * time.Second,
		TopicOrderCreated: s.topic, TopicOrderCancelled: s.topicCancelled,
		OutboxPoll: 500 * time.Millisecond, OutboxRetention: 10 * time.Minute,
	}
	s.ordersURL = testrun.Start(t, "orders", func(ctx context.Context, ready func(net.Addr)) error {
		return orders.Run(ctx, cfg, orders.Deps{Logger: logger(t), Broker: b, Ready: ready})
	}).URL() + "/graphql"
	conn, err := db.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s.client = entorders.NewClient(entorders.Driver(conn.Driver))
	return s
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// post sends a request with header (name, value pairs) to a subgraph.
func post(t *testing.T, url, query string, vars map[string]any, header ...string) gqlResponse {
	t.Helper()
	// The caller is an operator with a fresh subject (each registration
	// binds its own) unless header names one.
	caller := identity.Identity{Subject: "operator-" + uuid.NewString(), Scopes: []string{identity.OperatorScope}}
	return postAs[gqlResponse](t, url, query, vars, caller, header...)
}

// postAs sends a request from caller (the identity headers the router
// sends) with header (name, value pairs, set after them) to a subgraph and
// decodes the answer as an R.
func postAs[R any](t *testing.T, url, query string, vars map[string]any, caller identity.Identity, header ...string) R {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	caller.SetHeader(req.Header)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out R
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode response (HTTP %d): %v", resp.StatusCode, err)
	}
	return out
}

func registerUser(t *testing.T, usersURL, email string) string {
	t.Helper()
	r := post(t, usersURL, `mutation($in: RegisterUserInput!) { registerUser(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "Ada", "email": email}})
	var d struct{ RegisterUser struct{ ID string } }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &d) != nil || d.RegisterUser.ID == "" {
		t.Fatalf("registerUser: %s %+v", r.Data, r.Errors)
	}
	return d.RegisterUser.ID
}

const createOrder = `mutation($in: CreateOrderInput!) {
  createOrder(input: $in) { id userId user { id } items { sku name quantity unitPriceMinor } totalMinor currency status createdAt }
}`

type orderJSON struct {
	ID     string `json:"id"`
	UserID string `json:"userId"`
	User   struct {
		ID string `json:"id"`
	} `json:"user"`
	Items      []events.OrderItem `json:"items"`
	TotalMinor int64              `json:"totalMinor"`
	Currency   string             `json:"currency"`
	Status     string             `json:"status"`
	CreatedAt  time.Time          `json:"createdAt"`
}

func orderInput(userID string) map[string]any {
	return map[string]any{
		"userId":   userID,
		"currency": "EUR",
		"items": []any{
			map[string]any{"sku": "TEA-1", "name": "Green tea", "quantity": 3, "unitPriceMinor": 450},
			map[string]any{"sku": "CUP-2", "name": "Cup", "quantity": 1, "unitPriceMinor": 1200},
		},
	}
}

// countRows returns the rows in orders, order_items and outbox_events.
func (s *stack) countRows(t *testing.T) [3]int {
	t.Helper()
	ctx := context.Background()
	return [3]int{
		s.client.Order.Query().CountX(ctx),
		s.client.OrderItem.Query().CountX(ctx),
		s.client.OutboxEvent.Query().CountX(ctx),
	}
}

// streamCount is how many messages the broker holds on the topic.
func (s *stack) streamCount(t *testing.T) uint64 {
	t.Helper()
	nc, err := natsgo.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), nats.StreamName(s.topic))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// consume delivers the OrderCreated topic's messages on the returned
// channel until the test ends.
func (s *stack) consume(t *testing.T) <-chan stream.Message {
	return s.consumeTopic(t, s.topic)
}

// consumeTopic delivers a topic's messages, from its start, on the returned
// channel until the test ends.
func (s *stack) consumeTopic(t *testing.T, topic string) <-chan stream.Message {
	t.Helper()
	msgs := make(chan stream.Message, 16)
	streamtest.StartConsumer(t, s.broker, topic, "test-"+uuid.NewString()[:8], func(ctx context.Context, m stream.Message) error {
		select {
		case msgs <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return msgs
}

func receive(t *testing.T, msgs <-chan stream.Message) stream.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30s")
	}
	return stream.Message{}
}

func TestCreateOrder(t *testing.T) {
	usersURL := startUsers(t)
	for _, d := range []struct {
		name, driver string
		dsn          func(t *testing.T) string
	}{
		{"sqlite", db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "orders.db") }},
		{"postgres", db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
	} {
		t.Run(d.name, func(t *testing.T) {
			s := startOrders(t, d.driver, d.dsn(t), usersURL)
			userID := registerUser(t, usersURL, "ada-"+d.name+"@example.com")

			t.Run("invalid input is BAD_USER_INPUT naming the field", func(t *testing.T) {
				cases := []struct {
					field string
					edit  func(in map[string]any)
				}{
					{"input.userId", func(in map[string]any) { in["userId"] = "" }},
					{"input.items", func(in map[string]any) { in["items"] = []any{} }},
					{"input.items[0].quantity", func(in map[string]any) { item(in, 0)["quantity"] = 0 }},
					{"input.items[1].unitPriceMinor", func(in map[string]any) { item(in, 1)["unitPriceMinor"] = -1 }},
					{"input.items[1].sku", func(in map[string]any) { item(in, 1)["sku"] = " " }},
					{"input.items[0].name", func(in map[string]any) { item(in, 0)["name"] = "" }},
					{"input.currency", func(in map[string]any) { in["currency"] = "eur" }},
					{"input.currency", func(in map[string]any) { in["currency"] = "XYZ" }},
					{"input.items", func(in map[string]any) { item(in, 0)["unitPriceMinor"] = 1_000_000_000 }},
				}
				for _, c := range cases {
					in := orderInput(userID)
					c.edit(in)
					r := post(t, s.ordersURL, createOrder, map[string]any{"in": in})
					if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != c.field {
						t.Errorf("%s: got %s %+v, want BAD_USER_INPUT on %s", c.field, r.Data, r.Errors, c.field)
					}
				}
			})

			t.Run("every problem is reported in input order", func(t *testing.T) {
				in := orderInput(userID)
				in["currency"] = "usd"
				item(in, 0)["quantity"] = -1
				item(in, 1)["name"] = ""
				r := post(t, s.ordersURL, createOrder, map[string]any{"in": in})
				var fields []string
				for _, e := range r.Errors {
					if e.Extensions["code"] != "BAD_USER_INPUT" {
						t.Errorf("code %v in %+v", e.Extensions["code"], e)
					}
					fields = append(fields, fmt.Sprint(e.Extensions["field"]))
				}
				if want := "input.currency input.items[0].quantity input.items[1].name"; strings.Join(fields, " ") != want || string(r.Data) != "null" {
					t.Errorf("fields %v (data %s), want %s", fields, r.Data, want)
				}
			})

			t.Run("unknown user is NOT_FOUND", func(t *testing.T) {
				for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
					r := post(t, s.ordersURL, createOrder, map[string]any{"in": orderInput(id)})
					if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_FOUND" || r.Errors[0].Extensions["field"] != "input.userId" {
						t.Errorf("user %s: got %s %+v, want NOT_FOUND on input.userId", id, r.Data, r.Errors)
					}
				}
			})

			if got := s.countRows(t); got != [3]int{} {
				t.Fatalf("rejected orders wrote rows (orders, items, outbox) = %v", got)
			}

			msgs := s.consume(t)
			const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			r := post(t, s.ordersURL, createOrder, map[string]any{"in": orderInput(userID)}, "traceparent", traceparent)
			var created struct{ CreateOrder orderJSON }
			if len(r.Errors) > 0 || json.Unmarshal(r.Data, &created) != nil {
				t.Fatalf("createOrder: %s %+v", r.Data, r.Errors)
			}
			o := created.CreateOrder
			wantItems := []events.OrderItem{
				{SKU: "TEA-1", Name: "Green tea", Quantity: 3, UnitPriceMinor: 450},
				{SKU: "CUP-2", Name: "Cup", Quantity: 1, UnitPriceMinor: 1200},
			}
			if o.UserID != userID || o.User.ID != userID || o.TotalMinor != 2550 || o.Currency != "EUR" ||
				o.Status != "CREATED" || !reflect.DeepEqual(o.Items, wantItems) || uuid.Validate(o.ID) != nil {
				t.Fatalf("createOrder returned %+v", o)
			}
			if got := s.countRows(t); got != [3]int{1, 2, 1} {
				t.Fatalf("rows (orders, items, outbox) = %v, want [1 2 1]", got)
			}
			row := s.client.OutboxEvent.Query().OnlyX(context.Background())

			m := receive(t, msgs)
			var ev events.OrderCreated
			env, err := events.Decode(m, events.TypeOrderCreated, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if m.Topic != s.topic || m.Key != userID || env.ID != row.ID || uuid.Validate(env.ID) != nil ||
				env.Source != orders.EventSource || env.Subject != o.ID || !env.Time.Equal(o.CreatedAt) ||
				env.TraceParent != traceparent || m.Header(events.HeaderContentType) != "application/json" {
				t.Fatalf("message %+v (envelope %+v), order %+v, outbox id %s", m, env, o, row.ID)
			}
			want := events.OrderCreated{OrderID: o.ID, UserID: userID, Items: wantItems, TotalMinor: 2550, Currency: "EUR", CreatedAt: o.CreatedAt}
			if !ev.CreatedAt.Equal(want.CreatedAt) {
				t.Fatalf("payload createdAt %v, want %v", ev.CreatedAt, want.CreatedAt)
			}
			ev.CreatedAt = want.CreatedAt // same instant; the location may differ
			if !reflect.DeepEqual(ev, want) {
				t.Fatalf("payload %+v, want %+v", ev, want)
			}
			testwait.For(t, "outbox row marked published", func() bool {
				r := s.client.OutboxEvent.GetX(context.Background(), row.ID)
				return r.Status == outboxevent.StatusPublished && r.PublishedAt != nil
			})
			// Exactly one message reached the broker: the rejected orders
			// published nothing, and the relay published this one once.
			if n := s.streamCount(t); n != 1 {
				t.Fatalf("topic holds %d messages, want 1", n)
			}

			t.Run("queries", func(t *testing.T) {
				second := post(t, s.ordersURL, createOrder, map[string]any{"in": orderInput(userID)})
				var c2 struct{ CreateOrder orderJSON }
				if len(second.Errors) > 0 || json.Unmarshal(second.Data, &c2) != nil {
					t.Fatalf("second createOrder: %s %+v", second.Data, second.Errors)
				}
				r := post(t, s.ordersURL, `query($id: ID!) { order(id: $id) { id totalMinor items { sku } user { id } } }`, map[string]any{"id": o.ID})
				if string(r.Data) != fmt.Sprintf(`{"order":{"id":%q,"totalMinor":2550,"items":[{"sku":"TEA-1"},{"sku":"CUP-2"}],"user":{"id":%q}}}`, o.ID, userID) {
					t.Errorf("order(id): %s %+v", r.Data, r.Errors)
				}
				r = post(t, s.ordersURL, `{ order(id: "nope") { id } }`, nil)
				if string(r.Data) != `{"order":null}` || len(r.Errors) > 0 {
					t.Errorf("order(unknown id): %s %+v", r.Data, r.Errors)
				}
				// The router resolves User.orders through _entities.
				r = post(t, s.ordersURL, `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { id orders { id } } ... on Order { id currency } } }`,
					map[string]any{"reps": []any{
						map[string]any{"__typename": "User", "id": userID},
						map[string]any{"__typename": "User", "id": "someone-else"},
						map[string]any{"__typename": "Order", "id": o.ID},
					}})
				want := fmt.Sprintf(`{"_entities":[{"id":%q,"orders":[{"id":%q},{"id":%q}]},{"id":"someone-else","orders":[]},{"id":%q,"currency":"EUR"}]}`,
					userID, c2.CreateOrder.ID, o.ID, o.ID)
				if string(r.Data) != want || len(r.Errors) > 0 {
					t.Errorf("_entities:\n got %s %+v\nwant %s", r.Data, r.Errors, want)
				}
				r = post(t, s.ordersURL, `{ _service { sdl } }`, nil)
				if !bytes.Contains(r.Data, []byte(`createOrder`)) {
					t.Errorf("_service.sdl: %s", r.Data)
				}
			})
		})
	}
}

func TestCreateOrderUsersUnavailable(t *testing.T) {
	// A port nobody listens on: the users service is down. Port 1 (a
	// privileged port no service here uses), not a free port reserved and
	// closed: during the seconds startOrders takes, a parallel test could
	// start listening on a port freed that way.
	const deadURL = "http://127.0.0.1:1/graphql"
	s := startOrders(t, db.SQLite, filepath.Join(t.TempDir(), "orders.db"), deadURL)
	r := post(t, s.ordersURL, createOrder, map[string]any{"in": orderInput(uuid.NewString())})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAVAILABLE" {
		t.Fatalf("got %s %+v, want UNAVAILABLE", r.Data, r.Errors)
	}
	if got := s.countRows(t); got != [3]int{} {
		t.Fatalf("rows (orders, items, outbox) = %v, want none", got)
	}
	// The topics are made sure of in the background; the service answers
	// 200 once they exist, whatever the users service does.
	testwait.For(t, "/healthz 200 (database and broker are up)", func() bool {
		resp, err := http.Get(s.ordersURL[:len(s.ordersURL)-len("/graphql")] + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func item(in map[string]any, i int) map[string]any { return in["items"].([]any)[i].(map[string]any) }
