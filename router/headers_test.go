package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/subgraphauth"
)

func readAll(t testing.TB, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read subgraph request: %v", err)
	}
	return string(b)
}

func nopBody(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// recordedFetch is one request a subgraph received.
type recordedFetch struct {
	header http.Header
	body   string
}

// headerRecorder sits in front of a fake subgraph and keeps what every
// request carried.
type headerRecorder struct {
	mu    sync.Mutex
	seen  []recordedFetch
	srv   *httptest.Server
	inner http.Handler
}

func recordHeaders(t *testing.T, next http.Handler) *headerRecorder {
	rec := &headerRecorder{inner: next}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := readAll(t, r)
		rec.mu.Lock()
		rec.seen = append(rec.seen, recordedFetch{header: r.Header.Clone(), body: body})
		rec.mu.Unlock()
		r.Body = nopBody(body)
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (h *headerRecorder) URL() string { return h.srv.URL + "/graphql" }

// fetches returns the recorded requests whose body contains sub.
func (h *headerRecorder) fetches(sub string) []recordedFetch {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []recordedFetch
	for _, f := range h.seen {
		if strings.Contains(f.body, sub) {
			out = append(out, f)
		}
	}
	return out
}

func (h *headerRecorder) all() []recordedFetch { return h.fetches("") }

const (
	clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testSecret        = "a-test-secret-of-some-length"
)

func TestHeaderForwardingAndSecret(t *testing.T) {
	users := recordHeaders(t, newUsersFake(t))
	orders := recordHeaders(t, newOrdersFake(t))
	cfg := testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()})
	cfg.SubgraphSecret = testSecret
	tr := startRouter(t, cfg)
	tr.waitReady(t)

	// Start-up SDL fetches carry the secret too (subgraphs require it).
	for _, f := range append(users.fetches("_service"), orders.fetches("_service")...) {
		if got := f.header.Get(subgraphauth.Header); got != testSecret {
			t.Errorf("_service fetch %s = %q, want the secret", subgraphauth.Header, got)
		}
	}

	send := func(t *testing.T, header map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, tr.url+"/graphql", strings.NewReader(`{"query":"{ order(id: \"o1\") { id user { name } } }"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if r := do(t, req); r.status != http.StatusOK || strings.Contains(r.body, "errors") {
			t.Fatalf("query = %d %s", r.status, r.body)
		}
	}

	t.Run("listed headers only", func(t *testing.T) {
		// A verified caller's token, with forged identity headers beside it.
		send(t, map[string]string{
			"Authorization": "Bearer " + testIssuer.Token("ada", "orders:read"), "Traceparent": clientTraceparent, "Tracestate": "vendor=1",
			"Cookie": "session=secret", "X-Custom": "no", "X-Herald-Router-Secret": "forged",
			identity.HeaderSubject: "mallory", identity.HeaderScopes: identity.OperatorScope, identity.HeaderService: identity.ServiceNotifier,
		})
		fetched := append(orders.fetches(`order(id:`), users.fetches("_entities")...)
		if len(fetched) != 2 {
			t.Fatalf("want one fetch per subgraph, got %d", len(fetched))
		}
		for _, f := range fetched {
			want := map[string]string{
				"Authorization": "", "Traceparent": clientTraceparent, "Tracestate": "vendor=1",
				subgraphauth.Header: testSecret, "Cookie": "", "X-Custom": "",
				identity.HeaderSubject: "ada", identity.HeaderScopes: "orders:read", identity.HeaderService: "",
			}
			for k, v := range want {
				if got := f.header.Values(k); strings.Join(got, ",") != v {
					t.Errorf("subgraph got %s = %q, want %q", k, got, v)
				}
			}
			for k := range f.header {
				switch k {
				case "Traceparent", "Tracestate", subgraphauth.Header, identity.HeaderSubject, identity.HeaderScopes,
					"Accept", "Content-Type", "Accept-Encoding", "Content-Length", "User-Agent":
				default:
					t.Errorf("subgraph got unexpected header %s: %q", k, f.header.Values(k))
				}
			}
		}
	})

	t.Run("a trace is started when the client sent none", func(t *testing.T) {
		before := len(users.all())
		send(t, map[string]string{"Tracestate": "orphan=1"})
		send(t, map[string]string{"Traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}) // invalid: all-zero trace id
		newOrders := orders.fetches(`order(id:`)
		newUsers := users.all()[before:]
		if len(newUsers) != 2 || len(newOrders) < 3 {
			t.Fatalf("fetches: users %d, orders %d", len(newUsers), len(newOrders))
		}
		first, second := newOrders[len(newOrders)-2], newOrders[len(newOrders)-1]
		for i, pair := range [][2]recordedFetch{{first, newUsers[0]}, {second, newUsers[1]}} {
			tp := pair[0].header.Get("Traceparent")
			if !events.ValidTraceParent(tp) {
				t.Errorf("request %d: generated traceparent %q is not valid", i, tp)
			}
			if got := pair[1].header.Get("Traceparent"); got != tp {
				t.Errorf("request %d: subgraphs saw different traces %q and %q", i, tp, got)
			}
			if pair[0].header.Get("Tracestate") != "" {
				t.Errorf("request %d: tracestate of another trace forwarded", i)
			}
		}
		if first.header.Get("Traceparent") == second.header.Get("Traceparent") {
			t.Error("two requests share one generated trace")
		}
	})
}

func TestForwardNothing(t *testing.T) {
	users := recordHeaders(t, newUsersFake(t))
	cfg := testConfig(Subgraph{Name: "users", URL: users.URL()})
	cfg.ForwardHeaders = []string{}
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	req, _ := http.NewRequest(http.MethodPost, tr.url+"/graphql", strings.NewReader(`{"query":"{ user(id: \"u1\") { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", clientTraceparent)
	do(t, req)
	f := users.fetches("user(id:")
	if len(f) != 1 {
		t.Fatalf("fetches = %d", len(f))
	}
	if f[0].header.Get("Authorization") != "" || f[0].header.Get(subgraphauth.Header) != "" {
		t.Errorf("forwarded %v with nothing listed and no secret", f[0].header)
	}
	if tp := f[0].header.Get("Traceparent"); !events.ValidTraceParent(tp) || tp == clientTraceparent {
		t.Errorf("traceparent = %q, want a new valid one (the client's is not listed)", tp)
	}
}

// The router and subgraphs protected by subgraphauth work together; without
// the secret a subgraph refuses the router.
func TestSubgraphAuthEndToEnd(t *testing.T) {
	users := newUsersFake(t)
	protected := httptest.NewServer(subgraphauth.Require(testSecret, users))
	t.Cleanup(protected.Close)
	cfg := testConfig(Subgraph{Name: "users", URL: protected.URL + "/graphql"})
	cfg.SubgraphSecret = testSecret
	tr := startRouter(t, cfg)
	tr.waitReady(t)
	routerCase{body: `{"query":"{ user(id: \"u1\") { name } }"}`, wantBody: `{"data":{"user":{"name":"Ada Lovelace"}}}`}.run(t, tr.url)

	resp, err := http.Post(protected.URL+"/graphql", "application/json", strings.NewReader(`{"query":"{ user(id: \"u1\") { name } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("direct call without the secret = %d, want 401", resp.StatusCode)
	}
}

func TestValidTraceparent(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{clientTraceparent, true},
		{newTraceparent(), true},
		{"", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	}
	for _, tt := range tests {
		if got := events.ValidTraceParent(tt.in); got != tt.want {
			t.Errorf("events.ValidTraceParent(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
