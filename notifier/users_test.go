package notifier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testwait"
	"github.com/sony/gobreaker/v2"
)

func TestUsersClientAgainstUsersService(t *testing.T) {
	svc := startUsers(t)
	id := svc.register(t, "Ada Lovelace", "ada@example.com", "+4915112345678", true, true)
	svc.update(t, id, map[string]any{"preferences": map[string]any{
		"locale":     "de-DE",
		"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "Europe/Berlin"},
		"categories": []any{map[string]any{"category": "MARKETING", "enabled": true, "optedOut": []string{"SMS"}}},
	}})
	c := NewUsersClient(svc.URL, &http.Client{Timeout: 10 * time.Second})
	ctx := context.Background()

	got, err := c.Policy(ctx, id, CategoryMarketing)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != UserActive || got.Name != "Ada Lovelace" || got.Locale != "de-DE" {
		t.Errorf("policy = %+v", got)
	}
	if e := got.Channels["email"]; !e.Enabled || e.Address != "ada@example.com" {
		t.Errorf("email channel = %+v", e)
	}
	if s := got.Channels["sms"]; !s.Enabled || s.Address != "+4915112345678" {
		t.Errorf("sms channel = %+v", s)
	}
	if m := got.Categories[CategoryMarketing]; m.Critical || !m.Enabled || !m.OptedOut["sms"] || m.OptedOut["email"] {
		t.Errorf("marketing = %+v", m)
	}
	if o := got.Categories[CategoryOrderUpdates]; !o.Enabled {
		t.Errorf("order updates = %+v", o)
	}
	if got.Quiet == nil || *got.Quiet != (QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Berlin"}) {
		t.Errorf("quiet hours = %+v", got.Quiet)
	}

	if p, err := c.Policy(ctx, "00000000-0000-0000-0000-000000000000", CategoryOrderUpdates); err != nil || p.Status == UserActive {
		t.Errorf("unknown user: %+v, %v; want a non-active status", p, err)
	}
	svc.delete(t, id)
	if p, err := c.Policy(ctx, id, CategoryOrderUpdates); err != nil || p.Status != UserDeleted {
		t.Errorf("deleted user: %+v, %v; want DELETED", p, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// A users service that is down or failing must never look like "no such
// user": that would skip the customer's notification.
func TestUsersClientFailuresAreNotNotFound(t *testing.T) {
	// A port nothing listens on: connection refused.
	downURL := "http://" + refusedAddr(t) + "/graphql"

	// A real HTTP server answering the way a crashing or overloaded service
	// does (the real users service cannot be made to fail on demand).
	failing := func(status int, body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	tests := []struct {
		name string
		url  string
	}{
		{"connection refused", downURL},
		{"503", failing(http.StatusServiceUnavailable, `{"errors":[{"message":"down"}]}`)},
		{"500 not json", failing(http.StatusInternalServerError, `oops`)},
		{"404 wrong path", failing(http.StatusNotFound, `not found`)},
		{"graphql internal error", failing(http.StatusOK, `{"data":{"user":null},"errors":[{"message":"internal","extensions":{"code":"INTERNAL"}}]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewUsersClient(tc.url, &http.Client{Timeout: 5 * time.Second})
			p, err := c.Policy(context.Background(), "u1", CategoryOrderUpdates)
			if err == nil {
				t.Fatalf("policy = %+v, want a retryable error", p)
			}
		})
	}
	t.Run("graphql NOT_FOUND", func(t *testing.T) {
		c := NewUsersClient(failing(http.StatusOK, `{"data":{"user":null},"errors":[{"message":"no user","extensions":{"code":"NOT_FOUND"}}]}`), http.DefaultClient)
		if p, err := c.Policy(context.Background(), "u1", CategoryOrderUpdates); err != nil || p.Status != UserNotFound {
			t.Fatalf("policy = %+v, %v; want NOT_FOUND", p, err)
		}
	})
}

// The breaker stops calling a failing users service after Failures
// consecutive failures, fails fast while open (still an error: the stream
// layer retries, nothing is skipped), and closes again after a successful
// probe once OpenFor has passed.
func TestBreakerDirectory(t *testing.T) {
	var (
		mu      sync.Mutex
		calls   int
		healthy bool
	)
	svc := startUsers(t)
	id := svc.register(t, "Ada", "ada@example.com", "", true, false)
	target, _ := url.Parse(svc.URL)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		ok := healthy
		mu.Unlock()
		if !ok {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host}).ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	states := make(chan gobreaker.State, 10)
	// OpenFor must outlast the open-state checks below even when the test
	// goroutine is not scheduled for a while on a loaded machine: once it
	// passes, the next call is a probe that reaches the service.
	b := NewBreakerDirectory(NewUsersClient(proxy.URL+"/graphql", &http.Client{Timeout: 5 * time.Second}),
		BreakerSettings{Failures: 3, OpenFor: 5 * time.Second, OnState: func(_, to gobreaker.State) { states <- to }})
	ctx := context.Background()
	for i := range 3 {
		if _, err := b.Policy(ctx, id, CategoryOrderUpdates); err == nil || errors.Is(err, ErrUsersUnavailable) {
			t.Fatalf("call %d: err = %v, want the service's error", i, err)
		}
	}
	if b.State() != gobreaker.StateOpen {
		t.Fatalf("state after 3 failures = %v, want open", b.State())
	}
	for range 5 {
		if _, err := b.Policy(ctx, id, CategoryOrderUpdates); !errors.Is(err, ErrUsersUnavailable) {
			t.Fatalf("while open: err = %v, want ErrUsersUnavailable", err)
		}
	}
	mu.Lock()
	if calls != 3 {
		t.Errorf("the service was called %d times, want 3 (none while open)", calls)
	}
	healthy = true
	mu.Unlock()
	testwait.For(t, "breaker half-open", func() bool { return b.State() == gobreaker.StateHalfOpen })
	p, err := b.Policy(ctx, id, CategoryOrderUpdates)
	if err != nil || p.Status != UserActive {
		t.Fatalf("probe: %+v, %v", p, err)
	}
	if b.State() != gobreaker.StateClosed {
		t.Errorf("state after a good probe = %v, want closed", b.State())
	}
	if got := []gobreaker.State{<-states, <-states, <-states}; got[0] != gobreaker.StateOpen || got[1] != gobreaker.StateHalfOpen || got[2] != gobreaker.StateClosed {
		t.Errorf("state changes = %v", got)
	}
}
