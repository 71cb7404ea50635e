package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/internal/httpserver"
)

func TestHealth(t *testing.T) {
	failing := func(context.Context) error { return errors.New("down") }
	passing := func(context.Context) error { return nil }
	cases := []struct {
		name   string
		checks map[string]func(context.Context) error
		status int
		body   string
	}{
		{"all pass", map[string]func(context.Context) error{"a": passing, "b": passing}, http.StatusOK, `{"status":"ok"}`},
		{"no checks", nil, http.StatusOK, `{"status":"ok"}`},
		{"one fails", map[string]func(context.Context) error{"db": passing, "stream": failing}, http.StatusServiceUnavailable,
			`{"status":"unavailable","check":"stream"}`},
		// Several failing: always the first by name, whatever the map order.
		{"first by name", map[string]func(context.Context) error{"zeta": failing, "alpha": failing, "mid": failing, "beta": passing},
			http.StatusServiceUnavailable, `{"status":"unavailable","check":"alpha"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := httpserver.Health(tc.checks)
			for range 20 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
				body, _ := io.ReadAll(rec.Body)
				if rec.Code != tc.status || string(body) != tc.body {
					t.Fatalf("got %d %s, want %d %s", rec.Code, body, tc.status, tc.body)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	for addr, want := range map[string]bool{"": false, httpserver.Off: false, "127.0.0.1:8080": true, ":0": true} {
		if got := httpserver.Enabled(addr); got != want {
			t.Errorf("Enabled(%q) = %v, want %v", addr, got, want)
		}
	}
}
