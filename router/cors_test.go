package router

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/router/subscription"
	"github.com/heraldhq/herald/router/subscription/wstest"
)

func TestCORS(t *testing.T) {
	users := newUsersFake(t)
	start := func(origins ...string) *testRouter {
		cfg := testConfig(Subgraph{Name: "users", URL: users.URL()})
		cfg.CORSOrigins = origins
		tr := startRouter(t, cfg)
		tr.waitReady(t)
		return tr
	}
	listed, open, closed := start("https://app.example.com"), start("*"), start()

	preflight := func(base, origin string) httpResult {
		req := mustRequest(t, http.MethodOptions, base+"/graphql")
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
		return do(t, req)
	}
	post := func(base, origin string) httpResult {
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ user(id: \"u1\") { name } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		return do(t, req)
	}
	tests := []struct {
		name       string
		r          httpResult
		wantStatus int
		wantOrigin string
	}{
		{"listed origin preflight", preflight(listed.url, "https://app.example.com"), http.StatusNoContent, "https://app.example.com"},
		{"other origin preflight", preflight(listed.url, "https://evil.example.com"), http.StatusForbidden, ""},
		{"listed origin POST", post(listed.url, "https://app.example.com"), http.StatusOK, "https://app.example.com"},
		{"other origin POST gets no CORS headers", post(listed.url, "https://evil.example.com"), http.StatusOK, ""},
		{"any origin preflight", preflight(open.url, "https://whoever.example"), http.StatusNoContent, "*"},
		{"any origin POST", post(open.url, "https://whoever.example"), http.StatusOK, "*"},
		{"same-origin only preflight", preflight(closed.url, "https://app.example.com"), http.StatusForbidden, ""},
		{"same-origin only POST", post(closed.url, "https://app.example.com"), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", tt.r.status, tt.wantStatus, tt.r.body)
			}
			if got := tt.r.header.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantOrigin)
			}
			if tt.r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed cross-origin")
			}
			if tt.wantStatus == http.StatusNoContent {
				if m := tt.r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
					t.Errorf("Access-Control-Allow-Methods = %q", m)
				}
				if h := strings.ToLower(tt.r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") || !strings.Contains(h, "content-type") {
					t.Errorf("Access-Control-Allow-Headers = %q", h)
				}
			}
		})
	}

	// WebSockets follow the same list (browsers apply no CORS to them).
	wsTests := []struct {
		name   string
		base   string
		origin string
		ok     bool
	}{
		{"listed origin", listed.url, "https://app.example.com", true},
		{"other origin", listed.url, "https://evil.example.com", false},
		{"same origin", closed.url, closed.url, true},
		{"no origin (not a browser)", closed.url, "", true},
		{"cross origin, none listed", closed.url, "https://app.example.com", false},
		{"any origin", open.url, "https://whoever.example", true},
	}
	for _, tt := range wsTests {
		t.Run("websocket "+tt.name, func(t *testing.T) {
			wstest.CheckOrigin(t, "ws"+strings.TrimPrefix(tt.base, "http")+"/graphql", subscription.Protocol, tt.origin, tt.ok)
		})
	}
}
