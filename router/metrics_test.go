package router

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	users, orders := newUsersFake(t), newOrdersFake(t)
	cfg := testConfig(Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()})
	cfg.MetricsMaxOperations = 2
	cfg.Limits.MaxAliases = 2
	tr := startRouter(t, cfg)
	tr.waitReady(t)

	for _, body := range []string{
		`{"query":"query A { user(id: \"u1\") { name } }"}`,
		`{"query":"query A { user(id: \"u1\") { name } }"}`,
		`{"query":"query B { user(id: \"nobody\") { name } }"}`,
		`{"query":"query C { user(id: \"u1\") { name } }"}`, // over the label budget
		`{"query":"{ user(id: \"u1\") { name } }"}`,
		`{"query":"{ a: user(id: \"u1\") { id } b: user(id: \"u1\") { id } c: user(id: \"u1\") { id } }"}`,
		`{"query":"{ user(id: "}`,                                              // does not parse
		`{"query":"query Z { order(id: \"o1\") { id } }","operationName":"Y"}`, // no such operation
	} {
		postJSON(t, tr.url+"/graphql", body)
	}
	users.setDown(true)
	postJSON(t, tr.url+"/graphql", `{"query":"{ order(id: \"o1\") { id user { name } } }"}`)
	users.setDown(false)

	r := do(t, mustRequest(t, http.MethodGet, tr.url+"/metrics"))
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", r.status)
	}
	for _, want := range []string{
		`herald_router_requests_total{operation="A",outcome="ok"} 2`,
		`herald_router_requests_total{operation="B",outcome="error"} 1`,
		`herald_router_requests_total{operation="other",outcome="ok"} 1`,
		`herald_router_requests_total{operation="other",outcome="error"} 2`,
		`herald_router_requests_total{operation="anonymous",outcome="ok"} 1`,
		`herald_router_requests_total{operation="anonymous",outcome="error"} 2`,
		`herald_router_request_duration_seconds_count{operation="A"} 2`,
		`herald_router_refused_requests_total{code="QUERY_TOO_COMPLEX"} 1`,
		`herald_router_subgraph_requests_total{outcome="error",subgraph="users"} 1`,
		`herald_router_subscriptions_active 0`,
		`herald_router_subscription_messages_dropped_total 0`,
		`herald_router_subscriptions_too_slow_total 0`,
	} {
		if !strings.Contains(r.body, "\n"+want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, re := range []string{
		`\nherald_router_subgraph_requests_total\{outcome="ok",subgraph="users"\} [1-9]`,
		`\nherald_router_subgraph_requests_total\{outcome="ok",subgraph="orders"\} [1-9]`,
		`\nherald_router_subgraph_request_duration_seconds_count\{subgraph="orders"\} [1-9]`,
		`\ngo_goroutines `,
	} {
		if !regexp.MustCompile(re).MatchString(r.body) {
			t.Errorf("metrics do not match %s", re)
		}
	}
	if strings.Contains(r.body, `operation="C"`) || strings.Contains(r.body, `operation="Y"`) {
		t.Error("an operation beyond the label budget got its own series")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", r.body)
	}

	cfg.DisableMetrics = true
	off := startRouter(t, cfg)
	if r := do(t, mustRequest(t, http.MethodGet, off.url+"/metrics")); r.status != http.StatusNotFound {
		t.Errorf("GET /metrics with metrics off = %d, want 404", r.status)
	}
}

func TestOperationLabelsAreBounded(t *testing.T) {
	o := &opLabels{max: 2, known: map[string]struct{}{}}
	tests := []struct {
		name   string
		parsed bool
		want   string
	}{
		{"A", true, "A"}, {"", true, "anonymous"}, {"B", true, "B"}, {"C", true, "other"},
		{"A", true, "A"}, {"A", false, "other"}, {"other", true, "other"},
		{strings.Repeat("x", 101), true, "other"},
	}
	for _, tt := range tests {
		if got := o.label(tt.name, tt.parsed); got != tt.want {
			t.Errorf("label(%.10q, %v) = %q, want %q", tt.name, tt.parsed, got, tt.want)
		}
	}
}
