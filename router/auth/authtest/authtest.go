// Package authtest is a small identity provider for tests: freshly
// generated keys, a JWKS document served over real HTTP, and tokens signed
// with those keys. It is the real mechanism the router verifies against,
// not a stand-in for it.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/router/auth"
)

// Issuer is an identity provider serving its JWKS at URL. Key generation
// and signing with its own keys cannot fail but on a broken machine: they
// panic then.
type Issuer struct {
	// URL is the JWKS document's address.
	URL string
	// Name is the iss claim of its tokens; Audience their aud.
	Name     string
	Audience string

	srv     *httptest.Server
	mu      sync.Mutex
	signers []*auth.Signer // published; the first signs
	n       int
	fetches atomic.Int64
}

// Kind is a signing algorithm's key type.
type Kind int

const (
	Ed25519 Kind = iota
	ES256
	RS256
)

// NewIssuer starts an issuer with one key of kind, closed at the test's end.
func NewIssuer(t testing.TB, name string, kind Kind) *Issuer {
	t.Helper()
	is, err := StartIssuer(name, kind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	return is
}

// StartIssuer starts an issuer outside a test (a TestMain's); Close stops it.
func StartIssuer(name string, kind Kind) (*Issuer, error) {
	is := &Issuer{Name: name, Audience: "herald"}
	s, err := is.newSigner(kind)
	if err != nil {
		return nil, err
	}
	is.signers = []*auth.Signer{s}
	is.srv = httptest.NewServer(http.HandlerFunc(is.serve))
	is.URL = is.srv.URL + "/.well-known/jwks.json"
	return is, nil
}

// Close stops serving the key set.
func (is *Issuer) Close() { is.srv.Close() }

func (is *Issuer) serve(w http.ResponseWriter, _ *http.Request) {
	is.fetches.Add(1)
	is.mu.Lock()
	b, err := auth.JWKS(is.signers...)
	is.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// Fetches counts JWKS requests served.
func (is *Issuer) Fetches() int64 { return is.fetches.Load() }

// NewKey makes a signer of kind that the issuer does not publish.
func (is *Issuer) NewKey(kind Kind) *auth.Signer { return must(is.newSigner(kind)) }

func (is *Issuer) newSigner(kind Kind) (*auth.Signer, error) {
	is.mu.Lock()
	is.n++
	n := is.n
	is.mu.Unlock()
	var (
		key crypto.Signer
		err error
	)
	switch kind {
	case ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	s, err := auth.NewSigner(key, fmt.Sprintf("%s-key-%d", is.Name, n))
	if err != nil {
		return nil, err
	}
	s.Issuer, s.Audience = is.Name, is.Audience
	return s, nil
}

// must stops on what only a broken machine makes fail (key generation,
// signing with a key just made).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Rotate publishes a new key of kind that signs from now on, and keeps the
// old ones published when keepOld (an overlap window) or drops them.
func (is *Issuer) Rotate(kind Kind, keepOld bool) *auth.Signer {
	s := must(is.newSigner(kind))
	is.mu.Lock()
	defer is.mu.Unlock()
	if keepOld {
		is.signers = append([]*auth.Signer{s}, is.signers...)
	} else {
		is.signers = []*auth.Signer{s}
	}
	return s
}

// Signer is the key that signs now.
func (is *Issuer) Signer() *auth.Signer {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.signers[0]
}

// Token mints a token valid for an hour.
func (is *Issuer) Token(subject string, scopes ...string) string {
	return is.TokenFor(subject, time.Hour, scopes...)
}

// TokenFor mints a token valid for ttl (negative: already expired).
func (is *Issuer) TokenFor(subject string, ttl time.Duration, scopes ...string) string {
	return must(is.Signer().Mint(subject, scopes, ttl))
}

// Operator mints a token holding the operator scope.
func (is *Issuer) Operator(subject string) string {
	return is.Token(subject, identity.OperatorScope)
}

// Claims mints a token with claims exactly as given.
func (is *Issuer) Claims(c jwt.MapClaims) string {
	return must(is.Signer().MintClaims(c))
}

// Config is the router's auth configuration trusting this issuer.
func (is *Issuer) Config() auth.Config {
	return auth.Config{
		JWKSURLs: []string{is.URL}, Issuer: is.Name, Audience: is.Audience,
		ClockSkew: time.Second, JWKSRefresh: time.Minute, JWKSUnknownKIDInterval: time.Second,
		OperatorScope: identity.OperatorScope,
	}
}

// Env is the same configuration as router environment variables.
func (is *Issuer) Env() map[string]string {
	return map[string]string{
		"HERALD_AUTH_JWKS_URLS": is.URL,
		"HERALD_AUTH_ISSUER":    is.Name,
		"HERALD_AUTH_AUDIENCE":  is.Audience,
	}
}

// BearerTransport sends "Authorization: Bearer <token()>" on every request
// through base (nil: http.DefaultTransport) that has no Authorization
// header of its own.
func BearerTransport(base http.RoundTripper, token func() string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return bearer{base: base, token: token}
}

type bearer struct {
	base  http.RoundTripper
	token func() string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token())
	}
	return b.base.RoundTrip(r)
}
