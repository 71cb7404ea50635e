package router

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/testwait"
)

func TestParseSubgraphs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []Subgraph
		wantErr string
	}{
		{"two", []string{"users=http://127.0.0.1:4001/graphql", " orders = https://orders.internal/graphql "},
			[]Subgraph{{Name: "users", URL: "http://127.0.0.1:4001/graphql"}, {Name: "orders", URL: "https://orders.internal/graphql"}}, ""},
		{"empty", nil, nil, "no subgraphs"},
		{"no equals", []string{"users"}, nil, `"users" is not a name=url pair`},
		{"no url", []string{"users="}, nil, "not a name=url pair"},
		{"not http", []string{"users=ftp://x/graphql"}, nil, "subgraph users: \"ftp://x/graphql\" is not an http(s) URL"},
		{"relative", []string{"users=/graphql"}, nil, "not an http(s) URL"},
		{"duplicate", []string{"users=http://a/graphql", "users=http://b/graphql"}, nil, "subgraph users named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubgraphs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("subgraph %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr []string
	}{
		{name: "defaults", env: nil, check: func(t *testing.T, c Config) {
			if c.Addr != ":4000" || c.MaxRequestBytes != 1<<20 || c.RouterConfigPath != "" || len(c.Subgraphs) != 3 ||
				c.Subgraphs[0] != (Subgraph{Name: "users", URL: "http://127.0.0.1:4001/graphql"}) ||
				c.Subgraphs[1] != (Subgraph{Name: "orders", URL: "http://127.0.0.1:4002/graphql"}) ||
				c.Subgraphs[2] != (Subgraph{Name: "notifications", URL: "builtin"}) {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "set", env: map[string]string{
			"HERALD_SUBGRAPHS":                "users=http://u:1/graphql",
			"HERALD_ROUTER_CONFIG":            "schema/supergraph.json",
			"HERALD_ROUTER_MAX_REQUEST_BYTES": "2048",
			"HERALD_ROUTER_RELOAD_INTERVAL":   "45s",
		}, check: func(t *testing.T, c Config) {
			if c.RouterConfigPath != "schema/supergraph.json" || c.MaxRequestBytes != 2048 || len(c.Subgraphs) != 1 ||
				c.Reload.Interval != 45*time.Second {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "all problems together", env: map[string]string{
			"HERALD_SUBGRAPHS":                "users",
			"HERALD_ROUTER_MAX_REQUEST_BYTES": "0",
			"HERALD_ROUTER_SUBGRAPH_TIMEOUT":  "soon",
			"HERALD_ROUTER_RELOAD_INTERVAL":   "-1s",
		}, wantErr: []string{"HERALD_SUBGRAPHS", "HERALD_ROUTER_MAX_REQUEST_BYTES", "HERALD_ROUTER_SUBGRAPH_TIMEOUT", "HERALD_ROUTER_RELOAD_INTERVAL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := config.New(withAuthEnv(tt.env))
			c := LoadConfig(v)
			err := v.Err()
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func schemaSubgraphs(t testing.TB) []Subgraph {
	t.Helper()
	sgs, err := ParseSubgraphs(strings.Split(DefaultSubgraphs, ","))
	if err != nil {
		t.Fatal(err)
	}
	sgs, err = ReadSDLFiles(sgs, filepath.Join("..", "schema"))
	if err != nil {
		t.Fatal(err)
	}
	return sgs
}

// The committed supergraph must be what composing the committed SDL gives,
// byte for byte; otherwise `go generate ./router` was forgotten.
func TestCommittedSupergraphIsUpToDate(t *testing.T) {
	rc, err := Compose(context.Background(), schemaSubgraphs(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := MarshalRouterConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "schema", "supergraph.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("schema/supergraph.json is out of date: run go generate ./router")
	}
	// Round trip: what is committed loads back to the same bytes.
	back, err := UnmarshalRouterConfig(want)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := MarshalRouterConfig(back)
	if !bytes.Equal(again, want) {
		t.Fatal("supergraph.json does not survive a load/marshal round trip")
	}
}

func TestComposeErrorNamesSubgraphAndField(t *testing.T) {
	users, orders := readSchema(t, "users"), readSchema(t, "orders")
	tests := []struct {
		name      string
		orders    string
		wantParts []string
	}{
		{"incompatible shared field",
			strings.Replace(orders, "type User @key(fields: \"id\") {\n  id: ID!", "type User @key(fields: \"id\") {\n  id: Int!", 1),
			[]string{`"User.id"`, `subgraph: "orders"`, `subgraph: "users"`}},
		{"undefined type",
			strings.Replace(orders, "user: User!", "user: Userr!", 1),
			[]string{`subgraph "orders"`, `"Userr"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.orders == orders {
				t.Fatal("the SDL edit did not apply: the test no longer breaks the schema")
			}
			_, err := Compose(context.Background(), []Subgraph{
				{Name: "users", URL: "http://127.0.0.1:1/graphql", SDL: users},
				{Name: "orders", URL: "http://127.0.0.1:2/graphql", SDL: tt.orders},
			})
			var ce *CompositionError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want a *CompositionError", err)
			}
			for _, p := range tt.wantParts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %s", err, p)
				}
			}
			if strings.Contains(err.Error(), "<eval>") {
				t.Errorf("error %q leaks the composer's JavaScript stack", err)
			}
		})
	}
}

func TestSetRoutingURLs(t *testing.T) {
	tests := []struct {
		name    string
		sgs     []Subgraph
		wantErr []string
	}{
		{"all", []Subgraph{{Name: "orders", URL: "http://o:9/graphql"}, {Name: "users", URL: "http://u:9/graphql"}}, nil},
		{"missing", []Subgraph{{Name: "users", URL: "http://u:9/graphql"}},
			[]string{"subgraph orders is in the router config but has no URL"}},
		{"unknown", []Subgraph{{Name: "users", URL: "http://u:9/graphql"}, {Name: "orders", URL: "http://o:9/graphql"}, {Name: "billing", URL: "http://b:9/graphql"}},
			[]string{"subgraph billing is configured but not part of the router config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := LoadRouterConfigFile(filepath.Join("..", "schema", "supergraph.json"))
			if err != nil {
				t.Fatal(err)
			}
			err = SetRoutingURLs(rc, tt.sgs)
			if len(tt.wantErr) > 0 {
				for _, w := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error = %v, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"users": "http://u:9/graphql", "orders": "http://o:9/graphql"}
			for _, s := range rc.GetSubgraphs() {
				if s.GetRoutingUrl() != want[s.GetName()] {
					t.Errorf("subgraph %s routing URL = %s", s.GetName(), s.GetRoutingUrl())
				}
			}
			for _, ds := range rc.GetEngineConfig().GetDatasourceConfigurations() {
				gql := ds.GetCustomGraphql()
				if got := gql.GetFetch().GetUrl().GetStaticVariableContent(); got != want[ds.GetId()] {
					t.Errorf("data source %s fetch URL = %s", ds.GetId(), got)
				}
				if got := gql.GetSubscription().GetUrl().GetStaticVariableContent(); got != want[ds.GetId()] {
					t.Errorf("data source %s subscription URL = %s", ds.GetId(), got)
				}
			}
		})
	}
}

// routerCase is one request and the exact response it must get.
type routerCase struct {
	name       string
	method     string // POST (default) or GET
	body       string // POST body, or GET query string
	wantStatus int
	wantBody   string
}

var federationCases = []routerCase{
	{name: "order joins its user from the users subgraph",
		body:     `{"query":"{ order(id: \"o1\") { id totalMinor currency status items { sku quantity unitPriceMinor } user { id name email phone preferences { email sms } } } }"}`,
		wantBody: `{"data":{"order":{"id":"o1","totalMinor":4200,"currency":"EUR","status":"CREATED","items":[{"sku":"BOOK-1","quantity":2,"unitPriceMinor":1500},{"sku":"CARD","quantity":12,"unitPriceMinor":100}],"user":{"id":"u1","name":"Ada Lovelace","email":"ada@example.com","phone":"+442071234567","preferences":{"email":true,"sms":false}}}}}`},
	{name: "user joins their orders from the orders subgraph and back",
		body:     `{"query":"query UserOrders($id: ID!) { user(id: $id) { name orders { id totalMinor user { name } } } }","variables":{"id":"u1"},"operationName":"UserOrders"}`,
		wantBody: `{"data":{"user":{"name":"Ada Lovelace","orders":[{"id":"o2","totalMinor":1250,"user":{"name":"Ada Lovelace"}},{"id":"o1","totalMinor":4200,"user":{"name":"Ada Lovelace"}}]}}}`},
	{name: "aliases and typename",
		body:     `{"query":"{ a: user(id: \"u2\") { __typename who: name phone orders { id } } }"}`,
		wantBody: `{"data":{"a":{"__typename":"User","who":"Bob Babbage","phone":null,"orders":[{"id":"o3"}]}}}`},
	{name: "GET query",
		method:   http.MethodGet,
		body:     "query=" + url.QueryEscape(`query($id: ID!){ order(id: $id) { id user { name } } }`) + "&variables=" + url.QueryEscape(`{"id":"o3"}`),
		wantBody: `{"data":{"order":{"id":"o3","user":{"name":"Bob Babbage"}}}}`},
	{name: "root subgraph error passes through with its code and path",
		body:     `{"query":"{ user(id: \"nobody\") { id name } }"}`,
		wantBody: `{"errors":[{"message":"user nobody not found","path":["user"],"extensions":{"code":"NOT_FOUND"}}],"data":{"user":null}}`},
	{name: "entity fetch error passes through with a client path",
		body:     `{"query":"{ order(id: \"o9\") { id user { name } } }"}`,
		wantBody: `{"errors":[{"message":"user u404 not found","path":["order","user"],"extensions":{"code":"NOT_FOUND"}},{"message":"Cannot return null for non-nullable field 'Query.order.user.name'.","path":["order","user","name"]}],"data":{"order":null}}`},
	{name: "mutation error keeps code and field, drops other extensions",
		body:     `{"query":"mutation { createOrder(input: { userId: \"u1\", items: [], currency: \"EUR\" }) { id } }"}`,
		wantBody: `{"errors":[{"message":"an order needs at least one item","path":["createOrder"],"extensions":{"code":"BAD_USER_INPUT","field":"items"}},{"message":"Cannot return null for non-nullable field 'Mutation.createOrder'.","path":["createOrder"]}],"data":null}`},
	{name: "validation error",
		body:     `{"query":"{ user(id: \"u1\") { password } }"}`,
		wantBody: `{"errors":[{"message":"Cannot query field \"password\" on type \"User\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`},
	{name: "parse error",
		body:     `{"query":"{ user(id: "}`,
		wantBody: `{"errors":[{"message":"unexpected token - got: EOF want one of: []","extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}`},
	{name: "missing variable",
		body:     `{"query":"query($id: ID!) { user(id: $id) { name } }","variables":{}}`,
		wantBody: `{"errors":[{"message":"Variable \"$id\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "missing variable, no variables at all",
		body:     `{"query":"query($id: ID!) { user(id: $id) { name } }"}`,
		wantBody: `{"errors":[{"message":"Variable \"$id\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "missing variable, variables null",
		body:     `{"query":"query($id: ID!) { user(id: $id) { name } }","variables":null}`,
		wantBody: `{"errors":[{"message":"Variable \"$id\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "optional variable may be left out",
		body:     `{"query":"query($id: ID! = \"u1\") { user(id: $id) { name } }"}`,
		wantBody: `{"data":{"user":{"name":"Ada Lovelace"}}}`},
}

var httpCases = []routerCase{
	{name: "mutation over GET is refused", method: http.MethodGet,
		body:       "query=" + url.QueryEscape(`mutation { createOrder(input: { userId: "u1", items: [], currency: "EUR" }) { id } }`),
		wantStatus: http.StatusMethodNotAllowed,
		wantBody:   `{"errors":[{"message":"mutations must be sent with POST","extensions":{"code":"BAD_USER_INPUT"}}]}`},
	refused("not JSON", `{"query": `, "BAD_USER_INPUT", "the request body is not valid JSON"),
	refused("no query", `{"variables":{}}`, "BAD_USER_INPUT", "query is required"),
	refused("query not a string", `{"query":5}`, "BAD_USER_INPUT", "query must be a string"),
	refused("variables not an object", `{"query":"{ user(id: \"u1\") { id } }","variables":[1]}`, "BAD_USER_INPUT", "variables must be an object"),
	refused("subscription over plain HTTP", `{"query":"subscription { x }"}`, "BAD_USER_INPUT", "subscriptions are not served over a plain HTTP request"),
}

// errorBody is the router's answer carrying one error, message and code.
func errorBody(code, message string) string {
	return `{"errors":[{"message":"` + message + `","extensions":{"code":"` + code + `"}}]}`
}

// refused is a request the router answers with 400 and one error.
func refused(name, body, code, message string) routerCase {
	return routerCase{name: name, body: body, wantStatus: http.StatusBadRequest, wantBody: errorBody(code, message)}
}

func (c routerCase) run(t *testing.T, base string) {
	t.Helper()
	var r httpResult
	if c.method == http.MethodGet {
		req, err := http.NewRequest(http.MethodGet, base+"/graphql?"+c.body, nil)
		if err != nil {
			t.Fatal(err)
		}
		r = do(t, req)
	} else {
		r = postJSON(t, base+"/graphql", c.body)
	}
	want := c.wantStatus
	if want == 0 {
		want = http.StatusOK
	}
	if r.status != want {
		t.Errorf("status = %d, want %d (body %s)", r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if r.body != c.wantBody {
		t.Errorf("body\n got: %s\nwant: %s", r.body, c.wantBody)
	}
}

// TestFederation runs the same operations against a router that composes at
// start-up from the subgraphs' _service SDL and against one that loads the
// committed supergraph with its routing URLs replaced.
func TestFederation(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	sgs := []Subgraph{{Name: "users", URL: users.URL()}, {Name: "orders", URL: orders.URL()}}
	modes := []struct {
		name string
		cfg  func() Config
	}{
		{"composed from _service", func() Config { return testConfig(sgs...) }},
		{"committed supergraph", func() Config {
			c := testConfig(sgs...)
			c.RouterConfigPath = filepath.Join("..", "schema", "supergraph.json")
			return c
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			tr := startRouter(t, m.cfg())
			tr.waitReady(t)
			for _, c := range append(append([]routerCase(nil), federationCases...), httpCases...) {
				t.Run(c.name, func(t *testing.T) { c.run(t, tr.url) })
			}
		})
	}
	// The fakes saw what a federation router sends: entity fetches for the
	// joins, not just root fields.
	if !containsAny(orders.seen(), "_entities(representations:") || !containsAny(users.seen(), "_entities(representations:") {
		t.Errorf("no _entities fetch reached the subgraphs: users %q, orders %q", users.seen(), orders.seen())
	}
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// hideLength makes the client send a chunked body of unknown length.
type hideLength struct{ r io.Reader }

func (h hideLength) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestBodyLimit(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	cfg := testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()})
	cfg.MaxRequestBytes = 4096
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	query := func(n int) string {
		// A query of exactly n bytes: padding goes into a comment line.
		head, tail := `{"query":"#`, `\n{ user(id: \"u1\") { name } }"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	const refused = `{"errors":[{"message":"the request body is larger than 4096 bytes","extensions":{"code":"REQUEST_TOO_LARGE"}}]}`
	const served = `{"data":{"user":{"name":"Ada Lovelace"}}}`
	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
		wantBody   string
	}{
		{"at the limit", 4096, false, http.StatusOK, served},
		{"over the limit", 4097, false, http.StatusRequestEntityTooLarge, refused},
		{"chunked at the limit", 4096, true, http.StatusOK, served},
		{"chunked over the limit", 8192, true, http.StatusRequestEntityTooLarge, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := query(tt.size)
			if len(body) != tt.size {
				t.Fatalf("test body is %d bytes, want %d", len(body), tt.size)
			}
			var r io.Reader = strings.NewReader(body)
			if tt.chunked {
				r = hideLength{r}
			}
			req, err := http.NewRequest(http.MethodPost, tr.url+"/graphql", r)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			got := do(t, req)
			if got.status != tt.wantStatus || got.body != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", got.status, got.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	// Both refusals are counted under their code.
	if m := do(t, mustRequest(t, http.MethodGet, tr.url+"/metrics")); !strings.Contains(m.body, `herald_router_refused_requests_total{code="REQUEST_TOO_LARGE"} 2`) {
		t.Errorf("metrics do not count the two refusals:\n%s", m.body)
	}
}

func TestWrongContentTypeIsRefused(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()}))
	tr.waitReady(t)
	req, _ := http.NewRequest(http.MethodPost, tr.url+"/graphql", strings.NewReader(`{"query":"{ user(id: \"u1\") { id } }"}`))
	req.Header.Set("Content-Type", "text/plain")
	r := do(t, req)
	if r.status != http.StatusUnsupportedMediaType {
		t.Errorf("status = %d, want 415 (body %s)", r.status, r.body)
	}
}

func TestSubgraphDownIsUnavailable(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()}))
	tr.waitReady(t)
	users.srv.Close()
	c := routerCase{
		body:     `{"query":"{ order(id: \"o1\") { id user { name } } }"}`,
		wantBody: `{"errors":[{"message":"Failed to fetch from Subgraph 'users' at Path 'order.user'.","extensions":{"code":"UNAVAILABLE"}},{"message":"Cannot return null for non-nullable field 'Query.order.user.name'.","path":["order","user","name"]}],"data":{"order":null}}`,
	}
	c.run(t, tr.url)
}

// Subgraphs often start after the router: it listens at once, reports not
// ready, retries the SDL fetch, and serves once both subgraphs answer.
func TestStartupWaitsForSubgraphs(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	users.setDown(true)
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()}))

	r := do(t, mustRequest(t, http.MethodGet, tr.url+"/healthz"))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "supergraph") {
		t.Errorf("healthz while composing = %d %s, want 503 naming the supergraph", r.status, r.body)
	}
	r = postJSON(t, tr.url+"/graphql", `{"query":"{ user(id: \"u1\") { id } }"}`)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `"code":"UNAVAILABLE"`) {
		t.Errorf("graphql while composing = %d %s, want 503 UNAVAILABLE", r.status, r.body)
	}
	waitLogged(t, tr, `"subgraph":"users"`)
	users.setDown(false)
	tr.waitReady(t)
	routerCase{body: `{"query":"{ user(id: \"u1\") { name } }"}`, wantBody: `{"data":{"user":{"name":"Ada Lovelace"}}}`}.run(t, tr.url)
}

func TestStartupGivesUpNamingTheSubgraph(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	orders.setDown(true)
	// orders comes first: with users first, a slow box could spend the
	// whole wait on users' fetch and the error would name users.
	cfg := testConfig(Subgraph{Name: "orders", URL: orders.URL()}, Subgraph{Name: "users", URL: users.URL()})
	cfg.StartupWait = 300 * time.Millisecond
	err := Run(context.Background(), cfg, Deps{})
	if err == nil || !strings.Contains(err.Error(), "subgraph orders") || !strings.Contains(err.Error(), orders.URL()) {
		t.Fatalf("Run = %v, want an error naming subgraph orders and its URL", err)
	}
}

func TestPlayground(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()}))

	page := do(t, mustRequest(t, http.MethodGet, tr.url+"/"))
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", page.status, page.header.Get("Content-Type"))
	}
	// A browser opening /graphql gets the same page.
	req := mustRequest(t, http.MethodGet, tr.url+"/graphql")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if r := do(t, req); r.status != http.StatusOK || r.body != page.body {
		t.Errorf("GET /graphql from a browser = %d, want the playground", r.status)
	}

	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(refs) < 5 {
		t.Fatalf("playground references %d assets, want the CSS and the scripts: %s", len(refs), page.body)
	}
	wantType := map[string]string{".js": "text/javascript", ".css": "text/css"}
	for _, m := range refs {
		ref := m[1]
		if !strings.HasPrefix(ref, "/playground/") {
			t.Errorf("asset %q is not an embedded local path", ref)
			continue
		}
		r := do(t, mustRequest(t, http.MethodGet, tr.url+ref))
		if r.status != http.StatusOK || len(r.body) == 0 {
			t.Errorf("GET %s = %d (%d bytes)", ref, r.status, len(r.body))
		}
		if want := wantType[filepath.Ext(ref)]; want == "" || !strings.HasPrefix(r.header.Get("Content-Type"), want) {
			t.Errorf("GET %s Content-Type = %q, want %q", ref, r.header.Get("Content-Type"), want)
		}
	}
	if !strings.Contains(page.body, "graphiql.min.js") {
		t.Error("playground page does not load GraphiQL")
	}

	// Gzip when asked, identical once decoded; 304 on a matching ETag.
	plain := do(t, mustRequest(t, http.MethodGet, tr.url+"/playground/assets/graphiql.min.js"))
	// http.Transport decompresses transparently only when it added the
	// header itself, so asking explicitly shows the raw encoding.
	gzReq := mustRequest(t, http.MethodGet, tr.url+"/playground/assets/graphiql.min.js")
	gzReq.Header.Set("Accept-Encoding", "gzip")
	gz := do(t, gzReq)
	if gz.header.Get("Content-Encoding") != "gzip" || len(gz.body) >= len(plain.body) {
		t.Errorf("gzip: encoding %q, %d bytes vs %d plain", gz.header.Get("Content-Encoding"), len(gz.body), len(plain.body))
	} else {
		zr, err := gzip.NewReader(strings.NewReader(gz.body))
		if err != nil {
			t.Fatal(err)
		}
		decoded, _ := io.ReadAll(zr)
		if string(decoded) != plain.body {
			t.Error("gzip body differs from the plain body")
		}
	}
	condReq := mustRequest(t, http.MethodGet, tr.url+"/playground/assets/graphiql.min.js")
	condReq.Header.Set("If-None-Match", plain.header.Get("ETag"))
	if r := do(t, condReq); r.status != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", r.status)
	}
	for _, p := range []string{"/playground/assets/nope.js", "/playground/", "/playground/../router.go", "/nope"} {
		if r := do(t, mustRequest(t, http.MethodGet, tr.url+p)); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.status)
		}
	}
}

func mustRequest(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Shutting down while still waiting for subgraphs is a clean stop, not a
// failure (startRouter's cleanup fails the test when Run returns an error).
func TestShutdownWhileWaitingIsClean(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	users.setDown(true)
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()}))
	testwait.For(t, "two failed SDL fetches logged", func() bool { return strings.Count(tr.logs.String(), "subgraph SDL not available yet") >= 2 })
}

// withAuthEnv reads env, with the test issuer's JWKS when env configures no
// token verification (LoadConfig requires one).
func withAuthEnv(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "HERALD_AUTH_JWKS_URLS" && env["HERALD_AUTH_PUBLIC_KEY_FILE"] == "" && env["HERALD_AUTH_DEV_HS256_SECRET"] == "" {
			return testIssuer.URL
		}
		return ""
	}
}
