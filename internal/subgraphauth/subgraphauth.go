// Package subgraphauth lets a subgraph accept traffic only from the router:
// the router sends a shared secret in a header on every subgraph fetch
// (HERALD_SUBGRAPH_SECRET, the same variable on both sides), and Require
// refuses requests without it. /healthz stays open for orchestrators.
//
// A bound internal address (listening on a private interface only) is the
// other way to get the same property; the secret also holds when the
// network is shared.
package subgraphauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"

	"github.com/heraldhq/herald/internal/identity"
)

// Header carries the shared secret from the router to subgraphs.
const Header = "X-Herald-Router-Secret"

// EnvVar names the environment variable holding the secret, read by the
// router and by every subgraph.
const EnvVar = "HERALD_SUBGRAPH_SECRET"

// HealthPath is served without the secret.
const HealthPath = "/healthz"

// CodeUnauthenticated is the extensions.code of a refused request.
const CodeUnauthenticated = "UNAUTHENTICATED"

var refusal = []byte(`{"errors":[{"message":"this subgraph only accepts requests from the Herald router","extensions":{"code":"` + CodeUnauthenticated + `"}}]}`)

// Require serves next only for requests whose Header matches secret (and
// for GET/HEAD /healthz); others get 401 with a GraphQL error coded
// UNAUTHENTICATED. An empty secret turns the check off and returns next as
// it is, so a subgraph can wrap its handler unconditionally and let
// configuration decide.
func Require(secret string, next http.Handler) http.Handler {
	if secret == "" {
		return next
	}
	// Comparing fixed-size digests in constant time hides both the secret
	// and its length from timing.
	want := sha256.Sum256([]byte(secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		got := sha256.Sum256([]byte(r.Header.Get(Header)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			h := w.Header()
			h.Set("Content-Type", "application/json; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(refusal)))
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(refusal)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Transport adds the shared secret to every request sent through base
// (nil: http.DefaultTransport). Services that call a subgraph directly, not
// through the router (orders and notifier asking users), use it.
func Transport(secret string, base http.RoundTripper) http.RoundTripper {
	if secret == "" {
		if base == nil {
			return http.DefaultTransport
		}
		return base
	}
	return identity.HeaderTransport(base, func(r *http.Request) { r.Header.Set(Header, secret) })
}
