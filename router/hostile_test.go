package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// hostileCase is one refusal of the checks made before parsing (size,
// nesting, tokens) or of the cost limit.
type hostileCase struct {
	name, query, vars string
	status            int
	errors            string // the errors array of the refusal
}

func refusal(code, message string) string {
	b, _ := json.Marshal([]gqlwire.Error{gqlwire.Coded(code, message)})
	return string(b)
}

// Every refusal reaches the client the same way on every transport: a POST,
// an element of a batch, a GET, an SSE request, a graphql-transport-ws
// subscribe message, and an APQ request (registering the query, then by
// hash alone).
func TestHostileDocumentsAreRefusedOnEveryTransport(t *testing.T) {
	tr := limitsRouter(t, func(c *Config) {
		c.Limits.MaxQueryBytes, c.Limits.MaxTokens, c.Limits.MaxCost = 300, 60, 100
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws := dialWS(t, ctx, tr.url)

	const pages = `query($n: Int) { user(id: "u1") { orders(first: $n) { user { id } } } }`
	padded := `{ user(id: "u1") { name } }` + "\n#" + strings.Repeat(" {", 150)
	tokens := `{ user(id: "u1") {` + strings.Repeat(" id", 60) + ` } }`
	deep := strings.Repeat("{a", 8) + strings.Repeat("}", 8)
	cases := []hostileCase{
		{"query text too large", padded, ``, http.StatusRequestEntityTooLarge,
			refusal(gqlwire.CodeRequestTooLarge, "the query is "+strconv.Itoa(len(padded))+" bytes; the limit is 300")},
		{"too many tokens", tokens, ``, http.StatusBadRequest,
			refusal(gqlwire.CodeQueryTooComplex, "the query has more than 60 tokens; the limit is 60")},
		{"too deep, refused before parsing", deep, ``, http.StatusBadRequest,
			refusal(gqlwire.CodeQueryTooDeep, "the operation is nested more than 4 levels deep; the limit is 4")},
		{"too expensive, list size from a variable", pages, `{"n":100}`, http.StatusBadRequest,
			refusal(gqlwire.CodeQueryTooExpensive, "the operation's estimated cost is 301 (values its answer can hold, from list sizes); the limit is 100")},
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := map[string]any{"query": c.query}
			if c.vars != "" {
				req["variables"] = json.RawMessage(c.vars)
			}
			body, _ := json.Marshal(req)
			want := `{"errors":` + c.errors + `}`
			if r := postJSON(t, tr.url+"/graphql", string(body)); r.status != c.status || r.body != want {
				t.Errorf("POST: %d %s, want %d %s", r.status, r.body, c.status, want)
			}
			batch := `[` + string(body) + `,{"query":"{ __typename }"}]`
			if r := postJSON(t, tr.url+"/graphql", batch); r.status != http.StatusOK || r.body != `[`+want+`,{"data":{"__typename":"Query"}}]` {
				t.Errorf("batch: %d %s, want 200 with %s first", r.status, r.body, want)
			}
			q := url.Values{"query": {c.query}}
			if c.vars != "" {
				q.Set("variables", c.vars)
			}
			if r := do(t, mustRequest(t, http.MethodGet, tr.url+"/graphql?"+q.Encode())); r.status != c.status || r.body != want {
				t.Errorf("GET: %d %s, want %d %s", r.status, r.body, c.status, want)
			}
			if r := sseRequest(t, http.MethodPost, tr.url, string(body)); r.status != c.status || r.body != want {
				t.Errorf("SSE: %d %s, want %d %s", r.status, r.body, c.status, want)
			}
			if m := nextWS(t, ctx, ws.subscribeRaw("h"+strconv.Itoa(i), string(body))); m.Type != "error" || string(m.Payload) != c.errors {
				t.Errorf("WebSocket: %s %s, want error %s", m.Type, m.Payload, c.errors)
			}
			req["extensions"] = map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha256Hex(c.query)}}
			register, _ := json.Marshal(req)
			if r := postJSON(t, tr.url+"/graphql", string(register)); r.status != c.status || r.body != want {
				t.Errorf("APQ with the query: %d %s, want %d %s", r.status, r.body, c.status, want)
			}
			delete(req, "query")
			byHash, _ := json.Marshal(req)
			if r := postJSON(t, tr.url+"/graphql", string(byHash)); r.status != c.status || r.body != want {
				t.Errorf("APQ by hash: %d %s, want %d %s", r.status, r.body, c.status, want)
			}
		})
	}

	// Each refusal is counted under its code, seven times per case: a
	// POST, a batch element, a GET, an SSE request, a WebSocket operation
	// and two APQ requests.
	metrics := do(t, mustRequest(t, http.MethodGet, tr.url+"/metrics")).body
	for _, code := range []string{gqlwire.CodeRequestTooLarge, gqlwire.CodeQueryTooComplex, gqlwire.CodeQueryTooDeep, gqlwire.CodeQueryTooExpensive} {
		if want := `herald_router_refused_requests_total{code="` + code + `"} 7`; !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Within the limits the same operations are served, on HTTP and WebSocket.
	body := `{"query":` + strconv.Quote(pages) + `,"variables":{"n":2}}`
	const served = `{"data":{"user":{"orders":[{"user":{"id":"u1"}},{"user":{"id":"u1"}}]}}}`
	if r := postJSON(t, tr.url+"/graphql", body); r.status != http.StatusOK || r.body != served {
		t.Errorf("within the cost limit: %d %s, want 200 %s", r.status, r.body, served)
	}
	if m := nextWS(t, ctx, ws.subscribeRaw("ok", body)); m.Type != "next" || string(m.Payload) != served {
		t.Errorf("WebSocket within the cost limit: %s %s", m.Type, m.Payload)
	}
	// Without the variable the schema's default (first: Int = 20) sizes
	// the list: 61, within the limit.
	if r := postJSON(t, tr.url+"/graphql", `{"query":`+strconv.Quote(pages)+`}`); r.status != http.StatusOK {
		t.Errorf("without the variable (cost 61): %d %s", r.status, r.body)
	}
}

// The million-row query of 200 bytes is refused by the default cost limit,
// naming its estimate.
func TestMillionRowQueryIsTooExpensive(t *testing.T) {
	tr := limitsRouter(t, func(c *Config) { c.Limits = Limits{} })
	body := `{"query":` + strconv.Quote(millionRows) + `,"variables":{"u":"u1"}}`
	want := `{"errors":` + refusal(gqlwire.CodeQueryTooExpensive,
		"the operation's estimated cost is 2020201 (values its answer can hold, from list sizes); the limit is 50000") + `}`
	if r := postJSON(t, tr.url+"/graphql", body); r.status != http.StatusBadRequest || r.body != want {
		t.Errorf("%d %s, want 400 %s", r.status, r.body, want)
	}
}

// A megabyte of "{a{a{a…" is refused by the query size limit, and, with
// that limit raised to the body limit, by the nesting scan, without being
// parsed. The time and bytes allocated per request are logged (not
// asserted: see docs/benchmarks.md for the figures and
// BenchmarkHostileDocument for the same at the executor).
func TestMegabyteNestedDocumentIsRefused(t *testing.T) {
	const levels = 333_333
	doc := strings.Repeat("{a", levels) + strings.Repeat("}", levels)
	body := `{"query":"` + doc + `"}`
	tests := []struct {
		name   string
		limits Limits
		status int
		want   string
	}{
		{"default limits: query size", Limits{}, http.StatusRequestEntityTooLarge,
			refusal(gqlwire.CodeRequestTooLarge, "the query is 999999 bytes; the limit is 131072")},
		{"query size limit at 1 MiB: nesting", Limits{MaxQueryBytes: 1 << 20}, http.StatusBadRequest,
			refusal(gqlwire.CodeQueryTooDeep, "the operation is nested more than 15 levels deep; the limit is 15")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := limitsRouter(t, func(c *Config) { c.Limits = tt.limits })
			// Warm up the connection and the pools.
			postJSON(t, tr.url+"/graphql", `{"query":"{ __typename }"}`)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			r := postJSON(t, tr.url+"/graphql", body)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if r.status != tt.status || r.body != `{"errors":`+tt.want+`}` {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.want)
			}
			t.Logf("%d-byte body refused in %v; %.1f MB allocated in the process (client and server), %d allocations",
				len(body), took, float64(after.TotalAlloc-before.TotalAlloc)/1e6, after.Mallocs-before.Mallocs)
		})
	}
}
