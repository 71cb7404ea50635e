// Package federation checks the users and orders subgraphs through the
// router, in one process: the real services on real PostgreSQL and NATS
// JetStream, reached only over HTTP at the router as a client would.
package federation

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/config"
	table "github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/stack/inproc"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/router/auth/authtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// graph is the router's /graphql endpoint and who calls it.
type graph struct {
	url string
	// token is the caller's bearer token; nil calls anonymously. By
	// default an operator with a fresh subject each call, so that every
	// registration binds a subject of its own.
	token func() string
	// issuer is the identity provider the router trusts.
	issuer *authtest.Issuer
	// usersURL and ordersURL are the subgraphs' own endpoints.
	usersURL, ordersURL string
}

// as calls with tok; "" calls anonymously.
func (g graph) as(tok string) graph {
	g.token = nil
	if tok != "" {
		g.token = func() string { return tok }
	}
	return g
}

// client is the GraphQL client of one call to url with g's caller.
func (g graph) client(url string, h http.Header) *testenv.GraphQLClient {
	c := &testenv.GraphQLClient{URL: url, Header: h}
	if g.token != nil {
		c.Token = g.token()
	}
	return c
}

type response = testenv.GraphQLResponse

// post sends one operation and returns the whole answer.
func (g graph) post(t *testing.T, query string, vars map[string]any) response {
	t.Helper()
	r, err := g.client(g.url, nil).Post(context.Background(), query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (g graph) do(t *testing.T, query string, vars map[string]any, out any) []testenv.GraphQLError {
	t.Helper()
	errs, err := g.client(g.url, nil).Do(context.Background(), query, vars, out)
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

func (g graph) must(t *testing.T, query string, vars map[string]any, out any) {
	t.Helper()
	if errs := g.do(t, query, vars, out); len(errs) > 0 {
		t.Fatalf("graphql errors: %+v", errs)
	}
}

// startGraph runs users, orders and the router of the stack table
// in-process on PostgreSQL and NATS, and returns the router's endpoint once
// it serves the composed graph.
func startGraph(t *testing.T) graph {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	stream := map[string]string{"HERALD_STREAM": "nats", "HERALD_NATS_URL": testenv.NATS(t)}
	sv := config.New(func(k string) string { return stream[k] })
	broker, err := backend.Open(ctx, backend.LoadConfig(sv), logger)
	if err != nil {
		t.Fatal(err)
	}
	issuer := authtest.NewIssuer(t, "https://id.federation.test", authtest.RS256)
	w := table.Wiring{
		Addr:           map[string]string{"users": "127.0.0.1:0", "orders": "127.0.0.1:0", "router": "127.0.0.1:0"},
		DSN:            map[string]string{"users": testenv.Postgres(t), "orders": testenv.Postgres(t)},
		DBDriver:       "postgres",
		Stream:         stream,
		Name:           fmt.Sprintf("fed%d", time.Now().UnixNano()),
		SubgraphSecret: subgraphSecret,
		Auth: map[string]string{
			"HERALD_AUTH_JWKS_URLS": issuer.URL,
			"HERALD_AUTH_ISSUER":    issuer.Name,
			"HERALD_AUTH_AUDIENCE":  issuer.Audience,
		},
		Statuses: true,
	}
	running, err := inproc.Start(ctx, w, []string{"users", "orders", "router"}, inproc.Deps{Logger: logger, Broker: broker})
	t.Cleanup(func() {
		cancel()
		if err := running.Wait(); err != nil {
			t.Errorf("in-process services: %v", err)
		}
		broker.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	w = running.Wiring
	base := table.BaseURL(w.Addr["router"])
	hctx, hcancel := context.WithTimeout(ctx, 90*time.Second)
	defer hcancel()
	if err := testenv.WaitHTTP(hctx, base+"/healthz", testenv.StatusOK); err != nil {
		t.Fatalf("router not ready: %v", err)
	}
	// The subgraphs refuse callers without the router's secret.
	resp, err := http.Post(w.GraphQL("users"), "application/json", strings.NewReader(`{"query":"{ __typename }"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("users subgraph called without the secret: HTTP %d, want 401", resp.StatusCode)
	}
	return graph{url: base + "/graphql", issuer: issuer,
		token:    func() string { return issuer.Operator("operator-" + uuid.NewString()) },
		usersURL: w.GraphQL("users"), ordersURL: w.GraphQL("orders")}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const userFields = `id name email phone orderCount
	preferences { email sms locale
		quietHours { start end timeZone }
		categories { category critical enabled optedOut channels } }`

type prefs struct {
	Email      bool   `json:"email"`
	SMS        bool   `json:"sms"`
	Locale     string `json:"locale"`
	QuietHours *struct {
		Start    string `json:"start"`
		End      string `json:"end"`
		TimeZone string `json:"timeZone"`
	} `json:"quietHours"`
	Categories []struct {
		Category string   `json:"category"`
		Critical bool     `json:"critical"`
		Enabled  bool     `json:"enabled"`
		OptedOut []string `json:"optedOut"`
		Channels []string `json:"channels"`
	} `json:"categories"`
}

type user struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	OrderCount  int    `json:"orderCount"`
	Preferences prefs  `json:"preferences"`
}

func TestPreferencesThroughRouter(t *testing.T) {
	g := startGraph(t)
	email := fmt.Sprintf("Quiet.%d@Example.COM", time.Now().UnixNano())

	var reg struct{ RegisterUser user }
	g.must(t, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ `+userFields+` } }`, map[string]any{"in": map[string]any{
		"name": "Quinn", "email": email, "phone": "+44 20 7946 0958",
		"preferences": map[string]any{
			"sms":        true,
			"locale":     "de-at",
			"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "Europe/Vienna"},
			"categories": []any{
				map[string]any{"category": "MARKETING", "enabled": true, "optedOut": []string{"SMS"}},
			},
		},
	}}, &reg)
	u := reg.RegisterUser
	if u.Email != strings.ToLower(email) || u.Phone != "+442079460958" {
		t.Fatalf("registered %+v: want lower-cased email and E.164 phone", u)
	}
	if u.Preferences.Locale != "de-AT" || u.Preferences.QuietHours == nil || u.Preferences.QuietHours.TimeZone != "Europe/Vienna" {
		t.Fatalf("preferences not stored as given: %+v", u.Preferences)
	}
	cats := map[string]bool{}
	for _, c := range u.Preferences.Categories {
		switch c.Category {
		case "MARKETING":
			if !c.Enabled || len(c.OptedOut) != 1 || c.OptedOut[0] != "SMS" {
				t.Fatalf("MARKETING = %+v, want enabled with SMS opted out", c)
			}
		case "ORDER_UPDATES":
			if !c.Critical || !c.Enabled {
				t.Fatalf("ORDER_UPDATES = %+v, want critical and enabled", c)
			}
		}
		cats[c.Category] = true
	}
	if !cats["MARKETING"] || !cats["ORDER_UPDATES"] {
		t.Fatalf("categories %+v", u.Preferences.Categories)
	}

	// Read back through the router, joined with orders (none yet).
	var read struct {
		User struct {
			user
			Orders []struct{ ID string } `json:"orders"`
		}
	}
	g.must(t, `query($id: ID!){ user(id: $id){ `+userFields+` orders { id } } }`, map[string]any{"id": u.ID}, &read)
	if read.User.ID != u.ID || read.User.Preferences.QuietHours.Start != "22:00" || len(read.User.Orders) != 0 {
		t.Fatalf("read back %+v", read.User)
	}

	// Change: quiet hours off, locale, marketing off.
	var upd struct {
		UpdateUser struct{ User user } `json:"updateUser"`
	}
	g.must(t, `mutation($id: ID!, $in: UpdateUserInput!){ updateUser(id: $id, input: $in){ user { `+userFields+` } } }`,
		map[string]any{"id": u.ID, "in": map[string]any{"preferences": map[string]any{
			"quietHours": nil, "locale": "fr",
			"categories": []any{map[string]any{"category": "MARKETING", "enabled": false}},
		}}}, &upd)
	if p := upd.UpdateUser.User.Preferences; p.QuietHours != nil || p.Locale != "fr" {
		t.Fatalf("after update: %+v", p)
	}

	// Each invalid field is refused with BAD_USER_INPUT naming it, and
	// changes nothing.
	for _, tc := range []struct {
		name  string
		in    map[string]any
		field string
	}{
		{"email", map[string]any{"email": "not an address"}, "input.email"},
		{"phone", map[string]any{"phone": "12345"}, "input.phone"},
		{"zone", map[string]any{"preferences": map[string]any{"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "Mars/Olympus_Mons"}}}, "input.preferences.quietHours.timeZone"},
		{"url", map[string]any{"webhook": map[string]any{"url": "http://example.com/hook", "enabled": true}}, "input.webhook.url"},
		{"locale", map[string]any{"preferences": map[string]any{"locale": "not a locale!"}}, "input.preferences.locale"},
	} {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			errs := g.do(t, `mutation($id: ID!, $in: UpdateUserInput!){ updateUser(id: $id, input: $in){ user { id } } }`,
				map[string]any{"id": u.ID, "in": tc.in}, nil)
			if len(errs) != 1 {
				t.Fatalf("errors %+v, want one", errs)
			}
			if errs[0].Extensions["code"] != "BAD_USER_INPUT" || errs[0].Extensions["field"] != tc.field {
				t.Fatalf("error %+v, want BAD_USER_INPUT on %s", errs[0], tc.field)
			}
			var again struct{ User user }
			g.must(t, `query($id: ID!){ user(id: $id){ `+userFields+` } }`, map[string]any{"id": u.ID}, &again)
			if again.User.Email != u.Email || again.User.Phone != u.Phone || again.User.Preferences.Locale != "fr" || again.User.Preferences.QuietHours != nil {
				t.Fatalf("refused update changed the user: %+v", again.User)
			}
		})
	}
}

func TestIdempotentOrderAndCountThroughRouter(t *testing.T) {
	g := startGraph(t)
	var reg struct{ RegisterUser user }
	g.must(t, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`, map[string]any{"in": map[string]any{
		"name": "Ida", "email": fmt.Sprintf("ida.%d@example.com", time.Now().UnixNano()),
	}}, &reg)
	in := map[string]any{
		"userId": reg.RegisterUser.ID, "currency": "USD", "idempotencyKey": "checkout-42",
		"items": []any{map[string]any{"sku": "A", "name": "Apple", "quantity": 3, "unitPriceMinor": 50}},
	}
	var first, second struct {
		CreateOrder struct {
			ID         string `json:"id"`
			TotalMinor int    `json:"totalMinor"`
		} `json:"createOrder"`
	}
	q := `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id totalMinor } }`
	g.must(t, q, map[string]any{"in": in}, &first)
	g.must(t, q, map[string]any{"in": in}, &second)
	if first.CreateOrder.ID == "" || first.CreateOrder.ID != second.CreateOrder.ID || first.CreateOrder.TotalMinor != 150 {
		t.Fatalf("retried createOrder: %+v then %+v, want the same order with total 150", first, second)
	}
	in["items"] = []any{map[string]any{"sku": "A", "name": "Apple", "quantity": 4, "unitPriceMinor": 50}}
	errs := g.do(t, q, map[string]any{"in": in}, nil)
	if len(errs) != 1 || errs[0].Extensions["field"] != "input.idempotencyKey" {
		t.Fatalf("same key, other payload: %+v, want one error on input.idempotencyKey", errs)
	}

	// The users service counts the one order from the OrderCreated stream.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r struct {
			User struct {
				OrderCount int                   `json:"orderCount"`
				Orders     []struct{ ID string } `json:"orders"`
			}
		}
		g.must(t, `query($id: ID!){ user(id: $id){ orderCount orders { id } } }`, map[string]any{"id": reg.RegisterUser.ID}, &r)
		if len(r.User.Orders) != 1 {
			t.Fatalf("user has %d orders through the router, want 1", len(r.User.Orders))
		}
		if r.User.OrderCount == 1 {
			break
		}
		if r.User.OrderCount > 1 || time.Now().After(deadline) {
			t.Fatalf("orderCount = %d, want 1", r.User.OrderCount)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A page of users with their orders: the router sends the orders subgraph
// one _entities call for the whole page, and every user must still get
// exactly its own orders, newest first, as when asked for alone.
func TestUsersPageWithOrdersThroughRouter(t *testing.T) {
	g := startGraph(t)
	want := map[string][]string{} // user id -> order ids, newest first
	for i, orders := range []int{0, 2, 1, 3} {
		var reg struct{ RegisterUser user }
		g.must(t, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`, map[string]any{"in": map[string]any{
			"name": fmt.Sprintf("Page %d", i), "email": fmt.Sprintf("page.%d.%d@example.com", i, time.Now().UnixNano()),
		}}, &reg)
		id := reg.RegisterUser.ID
		want[id] = []string{}
		for j := range orders {
			var o struct{ CreateOrder struct{ ID string } }
			g.must(t, `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id } }`, map[string]any{"in": map[string]any{
				"userId": id, "currency": "EUR",
				"items": []any{map[string]any{"sku": "S", "name": "Sock", "quantity": j + 1, "unitPriceMinor": 100}},
			}}, &o)
			want[id] = append([]string{o.CreateOrder.ID}, want[id]...)
		}
	}
	var page struct {
		Users struct {
			Edges []struct {
				Node struct {
					ID     string
					Orders []struct{ ID string }
				}
			}
		}
	}
	g.must(t, `{ users(first: 100){ edges { node { id orders { id } } } } }`, nil, &page)
	if len(page.Users.Edges) != len(want) {
		t.Fatalf("page holds %d users, want %d", len(page.Users.Edges), len(want))
	}
	for _, e := range page.Users.Edges {
		exp, ok := want[e.Node.ID]
		if !ok {
			t.Fatalf("unexpected user %s", e.Node.ID)
		}
		got := make([]string, 0, len(e.Node.Orders))
		for _, o := range e.Node.Orders {
			got = append(got, o.ID)
		}
		if strings.Join(got, ",") != strings.Join(exp, ",") {
			t.Errorf("user %s: orders %v, want %v", e.Node.ID, got, exp)
		}
	}
}
