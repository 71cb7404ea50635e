package identity_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/identity"
)

// TestTransport: a service sends its own identity, a subgraph passes its
// caller's on, and the caller's request is left as it was.
func TestTransport(t *testing.T) {
	seen := make(chan identity.Identity, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- identity.FromHeader(r.Header)
	}))
	defer srv.Close()
	caller := identity.Identity{Subject: "alice", Scopes: []string{"orders:read"}}
	tests := []struct {
		name    string
		service string
		want    identity.Identity
	}{
		{"own service identity", identity.ServiceNotifier, identity.Identity{Service: identity.ServiceNotifier}},
		{"caller passed on", "", caller},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(identity.With(context.Background(), caller), http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: identity.Transport(tc.service, nil)}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := <-seen
			if got.Subject != tc.want.Subject || got.Service != tc.want.Service || !slices.Equal(got.Scopes, tc.want.Scopes) {
				t.Errorf("server saw %+v, want %+v", got, tc.want)
			}
			if len(req.Header) != 0 {
				t.Errorf("the caller's request gained headers %v", req.Header)
			}
		})
	}
}
