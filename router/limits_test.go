package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/router/internal/gqlwire"
)

func TestMeasureOperation(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		opName    string
		wantName  string
		wantFound bool
		want      opStats
	}{
		{"flat", `{ a b c }`, "", "", true, opStats{depth: 1, fields: 3}},
		{"nested with alias", `query Q { a { x: b { c } } }`, "", "Q", true, opStats{depth: 3, fields: 3, aliases: 1}},
		{"inline fragment adds no depth", `{ a { ... on T { b { c } } } }`, "", "", true, opStats{depth: 3, fields: 3}},
		{"fragment counted per spread", `{ a { ...F } b { ...F } } fragment F on T { x y: z }`, "", "", true, opStats{depth: 2, fields: 6, aliases: 2}},
		{"named operation picked", `query A { a } query B { b { c { d } } }`, "B", "B", true, opStats{depth: 3, fields: 3}},
		{"unknown operation name", `query A { a }`, "Z", "", false, opStats{}},
		{"two anonymous-picked operations", `query A { a } query B { b }`, "", "", false, opStats{}},
		{"fragment cycle ends", `{ ...F } fragment F on Query { a ...G } fragment G on Query { b ...F }`, "", "", true, opStats{depth: 1, fields: 2}},
		{"unknown fragment", `{ ...Nope }`, "", "", true, opStats{}},
		{"introspection", `{ __schema { types { name } } }`, "", "", true, opStats{depth: 3, fields: 3, introspection: true}},
		{"introspection through a fragment", `{ ...I } fragment I on Query { __type(name: "T") { name } }`, "", "", true, opStats{depth: 2, fields: 2, introspection: true}},
		{"typename is no introspection", `{ __typename }`, "", "", true, opStats{depth: 1, fields: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, report := astparser.ParseGraphqlDocumentString(tt.query)
			if report.HasErrors() {
				t.Fatal(report.Error())
			}
			name, st, found := measureOperation(&doc, tt.opName)
			if name != tt.wantName || found != tt.wantFound || st != tt.want {
				t.Errorf("got %q %v %+v, want %q %v %+v", name, found, st, tt.wantName, tt.wantFound, tt.want)
			}
		})
	}
}

// fragmentBomb doubles the fields at each of n levels: 2^n fields once
// expanded, from a document of a few hundred bytes.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString(`{ user(id: \"u1\") { ...F0 } } `)
	for i := 0; i < n; i++ {
		b.WriteString("fragment F" + strconv.Itoa(i) + " on User { ...F" + strconv.Itoa(i+1) + " ...F" + strconv.Itoa(i+1) + " } ")
	}
	b.WriteString("fragment F" + strconv.Itoa(n) + " on User { id }")
	return b.String()
}

func TestMeasureFragmentBombIsLinear(t *testing.T) {
	q := strings.ReplaceAll(fragmentBomb(80), `\"`, `"`)
	doc, report := astparser.ParseGraphqlDocumentString(q)
	if report.HasErrors() {
		t.Fatal(report.Error())
	}
	_, st, _ := measureOperation(&doc, "")
	if st.fields != saturate {
		t.Errorf("fields = %d, want the saturated count %d", st.fields, saturate)
	}
	if e := (Limits{}).withDefaults().check(st, false); e == nil || e.code != gqlwire.CodeQueryTooComplex {
		t.Errorf("check = %+v, want QUERY_TOO_COMPLEX", e)
	}
}

// limitsRouter serves the users and orders fakes with small limits.
func limitsRouter(t *testing.T, edit func(*Config)) *testRouter {
	t.Helper()
	users, orders := newUsersFake(t), newOrdersFake(t)
	cfg := testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()})
	cfg.Limits = Limits{MaxDepth: 4, MaxFields: 12, MaxAliases: 2, MaxBatch: 3}
	if edit != nil {
		edit(&cfg)
	}
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	return tr
}

func TestLimits(t *testing.T) {
	tr := limitsRouter(t, nil)
	cases := []routerCase{
		{name: "depth at the limit is served",
			body:     `{"query":"{ user(id: \"u2\") { orders { user { name } } } }"}`,
			wantBody: `{"data":{"user":{"orders":[{"user":{"name":"Bob Babbage"}}]}}}`},
		refused("one level deeper is refused", `{"query":"{ user(id: \"u2\") { orders { user { orders { id } } } } }"}`,
			"QUERY_TOO_DEEP", "the operation is nested more than 4 levels deep; the limit is 4"),
		refused("depth through fragments is refused", `{"query":"{ user(id: \"u2\") { ...A } } fragment A on User { orders { ...B } } fragment B on Order { user { orders { id } } }"}`,
			"QUERY_TOO_DEEP", "the operation is nested 5 levels deep; the limit is 4"),
		{name: "fields at the limit are served",
			body:     `{"query":"{ user(id: \"u1\") { id name email phone createdAt preferences { email sms } orders { id totalMinor } } }"}`,
			wantBody: `{"data":{"user":{"id":"u1","name":"Ada Lovelace","email":"ada@example.com","phone":"+442071234567","createdAt":"2024-01-02T03:04:05Z","preferences":{"email":true,"sms":false},"orders":[{"id":"o2","totalMinor":1250},{"id":"o1","totalMinor":4200}]}}}`},
		refused("fields expanded from a repeated fragment are refused", `{"query":"{ a: user(id: \"u1\") { ...U } b: user(id: \"u2\") { ...U } } fragment U on User { __typename id name email phone createdAt }"}`,
			"QUERY_TOO_COMPLEX", "the operation selects 14 fields (fragments expanded); the limit is 12"),
		refused("a fragment bomb is refused without expanding it", `{"query":"`+fragmentBomb(60)+`"}`,
			"QUERY_TOO_COMPLEX", "the operation selects more than 1099511627776 fields (fragments expanded); the limit is 12"),
		refused("aliases over the limit are refused", `{"query":"{ a: user(id: \"u1\") { id } b: user(id: \"u1\") { id } c: user(id: \"u1\") { id } }"}`,
			"QUERY_TOO_COMPLEX", "the operation has 3 aliases (fragments expanded); the limit is 2"),
		{name: "limits apply to GET", method: http.MethodGet,
			body:       "query=" + strings.ReplaceAll(`{ a: user(id: "u1") { id } b: user(id: "u1") { id } c: user(id: "u1") { id } }`, " ", "+"),
			wantStatus: http.StatusBadRequest,
			wantBody:   errorBody("QUERY_TOO_COMPLEX", "the operation has 3 aliases (fragments expanded); the limit is 2")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, tr.url) })
	}
	if n := strings.Count(fragmentBomb(60), "fragment"); n != 61 {
		t.Fatalf("the bomb has %d fragments", n)
	}
}

func TestDefaultLimitsServeIntrospection(t *testing.T) {
	doc, report := astparser.ParseGraphqlDocumentString(introspectionQuery)
	if report.HasErrors() {
		t.Fatal(report.Error())
	}
	_, st, _ := measureOperation(&doc, "IntrospectionQuery")
	if e := (Limits{}).withDefaults().check(st, false); e != nil {
		t.Errorf("the introspection query (%+v) is refused by the default limits: %s", st, e.message)
	}
	tr := limitsRouter(t, func(c *Config) { c.Limits = Limits{} })
	body, _ := json.Marshal(map[string]string{"query": introspectionQuery, "operationName": "IntrospectionQuery"})
	r := postJSON(t, tr.url+"/graphql", string(body))
	if r.status != http.StatusOK || !strings.HasPrefix(r.body, `{"data":{"__schema":{"queryType":{"name":"Query"}`) {
		t.Errorf("introspection = %d %.300s", r.status, r.body)
	}
}

func TestIntrospectionAndPlaygroundOff(t *testing.T) {
	tr := limitsRouter(t, func(c *Config) { c.DisableIntrospection, c.DisablePlayground = true, true })
	disabled := func(name, body string) routerCase {
		return refused(name, body, "INTROSPECTION_DISABLED", "introspection is disabled on this router")
	}
	cases := []routerCase{
		disabled("__schema", `{"query":"{ __schema { queryType { name } } }"}`),
		disabled("__type", `{"query":"{ __type(name: \"User\") { name } }"}`),
		disabled("__type in a fragment", `{"query":"{ ...I } fragment I on Query { __type(name: \"User\") { name } }"}`),
		{name: "__typename still works", body: `{"query":"{ user(id: \"u1\") { __typename } }"}`, wantBody: `{"data":{"user":{"__typename":"User"}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, tr.url) })
	}
	for _, p := range []string{"/", "/playground/assets/graphiql.min.js"} {
		if r := do(t, mustRequest(t, http.MethodGet, tr.url+p)); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404 with the playground off", p, r.status)
		}
	}
	req := mustRequest(t, http.MethodGet, tr.url+"/graphql")
	req.Header.Set("Accept", "text/html")
	if r := do(t, req); r.status != http.StatusBadRequest || !strings.Contains(r.body, "query is required") {
		t.Errorf("GET /graphql from a browser = %d %s, want a JSON error, not the playground", r.status, r.body)
	}

	// On (the default) the same query is answered.
	on := limitsRouter(t, nil)
	routerCase{body: `{"query":"{ __type(name: \"User\") { name } }"}`, wantBody: `{"data":{"__type":{"name":"User"}}}`}.run(t, on.url)
}

func TestBatch(t *testing.T) {
	tr := limitsRouter(t, nil)
	cases := []routerCase{
		{name: "two operations",
			body:     `[{"query":"{ user(id: \"u1\") { name } }"},{"query":"query O($id: ID!) { order(id: $id) { id user { name } } }","variables":{"id":"o3"},"operationName":"O"}]`,
			wantBody: `[{"data":{"user":{"name":"Ada Lovelace"}}},{"data":{"order":{"id":"o3","user":{"name":"Bob Babbage"}}}}]`},
		{name: "each operation gets its own errors",
			body:     `[{"query":"{ user(id: \"u1\") { name } }"},{"query":"{ a: user(id: \"u1\") { id } b: user(id: \"u1\") { id } c: user(id: \"u1\") { id } }"},7]`,
			wantBody: `[{"data":{"user":{"name":"Ada Lovelace"}}},{"errors":[{"message":"the operation has 3 aliases (fragments expanded); the limit is 2","extensions":{"code":"QUERY_TOO_COMPLEX"}}]},{"errors":[{"message":"each operation of a batch must be a JSON object","extensions":{"code":"BAD_USER_INPUT"}}]}]`},
		refused("over the batch limit", `[{"query":"{ __typename }"},{"query":"{ __typename }"},{"query":"{ __typename }"},{"query":"{ __typename }"}]`,
			"BATCH_TOO_LARGE", "the batch holds 4 operations; the limit is 3"),
		refused("empty batch", `[]`, "BAD_USER_INPUT", "a batch must hold at least one operation"),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, tr.url) })
	}
}

// blockingSubgraph forwards to next, except operations containing block,
// which wait until the router gives up on them.
func blockingSubgraph(t *testing.T, next http.Handler, block string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := readAll(t, r)
		if strings.Contains(body, block) {
			<-r.Context().Done()
			return
		}
		r.Body = nopBody(body)
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTimeouts(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	slowUsers := blockingSubgraph(t, users, "user(id:")
	sgs := []Subgraph{{Name: "users", URL: slowUsers.URL + "/graphql"}, {Name: "orders", URL: orders.URL()}}

	t.Run("request timeout", func(t *testing.T) {
		cfg := testConfig(sgs...)
		// Long enough that the operation below, which must be served, never
		// hits it on a loaded machine; the blocked one waits it out.
		cfg.RequestTimeout = 5 * time.Second
		tr := startRouter(t, cfg)
		tr.waitReady(t)
		routerCase{body: `{"query":"{ user(id: \"u1\") { name } }"}`, wantStatus: http.StatusGatewayTimeout,
			wantBody: `{"errors":[{"message":"the request did not complete within 5s","extensions":{"code":"TIMEOUT"}}]}`}.run(t, tr.url)
		// Other operations are unaffected.
		routerCase{body: `{"query":"{ order(id: \"o3\") { id } }"}`, wantBody: `{"data":{"order":{"id":"o3"}}}`}.run(t, tr.url)
	})
	t.Run("subgraph timeout", func(t *testing.T) {
		cfg := testConfig(sgs...)
		cfg.SubgraphTimeout = 300 * time.Millisecond
		tr := startRouter(t, cfg)
		tr.waitReady(t)
		routerCase{body: `{"query":"{ user(id: \"u1\") { name } }"}`,
			wantBody: `{"errors":[{"message":"Failed to fetch from Subgraph 'users'.","extensions":{"code":"UNAVAILABLE"}}],"data":{"user":null}}`}.run(t, tr.url)
	})
}

// introspectionQuery is the shape GraphiQL sends (seven levels of ofType).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestLoadConfigSafetySettings(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		v := config.New(withAuthEnv(env))
		c := LoadConfig(v)
		return c, v.Err()
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != (Limits{MaxDepth: 15, MaxFields: 500, MaxAliases: 50, MaxBatch: 10,
		MaxQueryBytes: 128 << 10, MaxTokens: 5000, MaxCost: 50000, DefaultListSize: 20}) || c.RequestTimeout != DefaultRequestTimeout ||
		strings.Join(c.ForwardHeaders, ",") != DefaultForwardHeaders || c.CORSOrigins != nil || c.SubgraphSecret != "" ||
		c.DisableIntrospection || c.DisablePlayground || c.DisableMetrics || c.DisableAPQ || c.APQCacheBytes != DefaultAPQCacheBytes {
		t.Errorf("defaults = %+v", c)
	}
	c, err = load(map[string]string{
		"HERALD_ROUTER_MAX_DEPTH": "7", "HERALD_ROUTER_MAX_FIELDS": "70", "HERALD_ROUTER_MAX_ALIASES": "3", "HERALD_ROUTER_MAX_BATCH": "2",
		"HERALD_ROUTER_MAX_QUERY_BYTES": "4096", "HERALD_ROUTER_MAX_TOKENS": "300", "HERALD_ROUTER_MAX_COST": "900", "HERALD_ROUTER_DEFAULT_LIST_SIZE": "5",
		"HERALD_ROUTER_REQUEST_TIMEOUT": "5s", "HERALD_ROUTER_FORWARD_HEADERS": "none", "HERALD_SUBGRAPH_SECRET": testSecret,
		"HERALD_ROUTER_CORS_ORIGINS": "https://app.example.com, *", "HERALD_ROUTER_INTROSPECTION": "false",
		"HERALD_ROUTER_PLAYGROUND": "false", "HERALD_ROUTER_METRICS": "false", "HERALD_ROUTER_APQ": "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != (Limits{MaxDepth: 7, MaxFields: 70, MaxAliases: 3, MaxBatch: 2,
		MaxQueryBytes: 4096, MaxTokens: 300, MaxCost: 900, DefaultListSize: 5}) || c.RequestTimeout != 5*time.Second ||
		c.ForwardHeaders == nil || len(c.ForwardHeaders) != 0 || c.SubgraphSecret != testSecret || len(c.CORSOrigins) != 2 ||
		!c.DisableIntrospection || !c.DisablePlayground || !c.DisableMetrics || !c.DisableAPQ {
		t.Errorf("set = %+v", c)
	}
	_, err = load(map[string]string{
		"HERALD_ROUTER_MAX_DEPTH": "0", "HERALD_ROUTER_MAX_BATCH": "-1", "HERALD_SUBGRAPH_SECRET": "short",
		"HERALD_ROUTER_MAX_COST": "0", "HERALD_ROUTER_MAX_TOKENS": "-3",
		"HERALD_ROUTER_FORWARD_HEADERS": "authorization,bad header", "HERALD_ROUTER_CORS_ORIGINS": "app.example.com,https://x.example/path",
	})
	for _, want := range []string{"HERALD_ROUTER_MAX_DEPTH", "HERALD_ROUTER_MAX_BATCH", "HERALD_SUBGRAPH_SECRET", "HERALD_ROUTER_MAX_COST", "HERALD_ROUTER_MAX_TOKENS",
		`"bad header"`, `"app.example.com"`, `"https://x.example/path"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// Operations sent over the WebSocket (graphql-transport-ws) pass the same
// limits and introspection switch as over HTTP: the refusal is an error
// message for that operation, and the connection stays usable.
func TestWebSocketOperationsAreChecked(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		query string
		want  string // the payload of the error message; empty: served
	}{
		{name: "too deep", query: `{ user(id: "u2") { orders { user { orders { id } } } } }`,
			want: `[{"message":"the operation is nested more than 4 levels deep; the limit is 4","extensions":{"code":"QUERY_TOO_DEEP"}}]`},
		{name: "too many aliases", query: `{ a: user(id: "u1") { id } b: user(id: "u1") { id } c: user(id: "u1") { id } }`,
			want: `[{"message":"the operation has 3 aliases (fragments expanded); the limit is 2","extensions":{"code":"QUERY_TOO_COMPLEX"}}]`},
		{name: "too many fields through fragments", query: `{ a: user(id: "u1") { ...U } b: user(id: "u2") { ...U } } fragment U on User { __typename id name email phone createdAt }`,
			want: `[{"message":"the operation selects 14 fields (fragments expanded); the limit is 12","extensions":{"code":"QUERY_TOO_COMPLEX"}}]`},
		{name: "introspection off", edit: func(c *Config) { c.DisableIntrospection = true }, query: `{ __schema { queryType { name } } }`,
			want: `[{"message":"introspection is disabled on this router","extensions":{"code":"INTROSPECTION_DISABLED"}}]`},
		{name: "introspection on", query: `{ __type(name: "User") { name } }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := limitsRouter(t, tt.edit)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cl := dialWS(t, ctx, tr.url)
			ch := cl.subscribe("1", tt.query, nil)
			m := nextWS(t, ctx, ch)
			if tt.want != "" {
				if m.Type != "error" || string(m.Payload) != tt.want {
					t.Errorf("got %s %s, want error %s", m.Type, m.Payload, tt.want)
				}
			} else if m.Type != "next" || strings.Contains(string(m.Payload), "errors") {
				t.Errorf("got %s %s, want next with data", m.Type, m.Payload)
			}
			// The connection is still open and serves an operation within
			// the limits.
			ch = cl.subscribe("2", `{ user(id: "u1") { name } }`, nil)
			if m := nextWS(t, ctx, ch); m.Type != "next" || string(m.Payload) != `{"data":{"user":{"name":"Ada Lovelace"}}}` {
				t.Errorf("after the refusal: %s %s", m.Type, m.Payload)
			}
		})
	}
}

func nextWS(t *testing.T, ctx context.Context, ch <-chan wsTestMessage) wsTestMessage {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the connection closed")
		}
		return m
	case <-ctx.Done():
		t.Fatal("no message within the timeout")
	}
	return wsTestMessage{}
}
