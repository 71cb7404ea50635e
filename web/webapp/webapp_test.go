package webapp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The app's pages come from the embedded build, /graphql reaches the router
// with the browser's Host (the router's same-origin check on WebSockets
// compares the two), and /dev/ is served only when a handler is given.
func TestHandler(t *testing.T) {
	var gotHost string
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		_, _ = io.WriteString(w, `{"data":{}}`)
	}))
	defer router.Close()
	dev := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "dev") })

	for _, tc := range []struct {
		name   string
		extra  http.Handler
		method string
		path   string
		code   int
		body   string
	}{
		{"index", nil, http.MethodGet, "/", http.StatusOK, `<main id="main"`},
		{"graphql proxied", nil, http.MethodPost, "/graphql", http.StatusOK, `{"data":{}}`},
		{"no dev sign-in by default", nil, http.MethodPost, "/dev/token", http.StatusNotFound, ""},
		{"dev sign-in when given", dev, http.MethodPost, "/dev/token", http.StatusOK, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Handler(router.URL, tc.extra, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tc.method, "http://app.test"+tc.path, strings.NewReader(`{}`))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("%s %s: %d %q, want %d containing %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
			}
		})
	}
	if gotHost != "app.test" {
		t.Errorf("router saw Host %q, want the browser's app.test", gotHost)
	}
	if _, err := Handler("127.0.0.1:4000", nil, nil); err == nil {
		t.Error("a router address without a scheme was accepted")
	}
}
