package subgraphauth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequire(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "served "+r.URL.Path) })
	srv := httptest.NewServer(Require(secret, next))
	defer srv.Close()
	const refused = `{"errors":[{"message":"this subgraph only accepts requests from the Herald router","extensions":{"code":"UNAUTHENTICATED"}}]}`
	tests := []struct {
		name       string
		method     string
		path       string
		header     string // value of Header; "-" sends none
		wantStatus int
		wantBody   string
	}{
		{"right secret", http.MethodPost, "/graphql", secret, http.StatusOK, "served /graphql"},
		{"no secret", http.MethodPost, "/graphql", "-", http.StatusUnauthorized, refused},
		{"empty secret", http.MethodPost, "/graphql", "", http.StatusUnauthorized, refused},
		{"wrong secret", http.MethodPost, "/graphql", "0123456789abcdef-secreT", http.StatusUnauthorized, refused},
		{"secret prefix", http.MethodPost, "/graphql", secret[:10], http.StatusUnauthorized, refused},
		{"secret with suffix", http.MethodPost, "/graphql", secret + "x", http.StatusUnauthorized, refused},
		{"healthz without secret", http.MethodGet, "/healthz", "-", http.StatusOK, "served /healthz"},
		{"post to healthz needs it", http.MethodPost, "/healthz", "-", http.StatusUnauthorized, refused},
		{"other path needs it", http.MethodGet, "/healthz/x", "-", http.StatusUnauthorized, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "-" {
				req.Header.Set(Header, tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(b) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, b, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestRequireWithoutSecretIsOff(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	rec := httptest.NewRecorder()
	Require("", next).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200 with the check off", rec.Code)
	}
}

// A service calling a protected subgraph directly gets through with the
// transport and is refused without it.
func TestTransportSendsSecret(t *testing.T) {
	const secret = "0123456789abcdef-transport"
	srv := httptest.NewServer(Require(secret, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
		want int
	}{
		{"with transport", Transport(secret, nil), http.StatusNoContent},
		{"wrong secret", Transport("not-the-secret-at-all", nil), http.StatusUnauthorized},
		{"plain client", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := (&http.Client{Transport: tc.rt}).Post(srv.URL+"/graphql", "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
