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

// Issuer is an identity provider serving its JWKS at URL.
type Issuer struct {
	// URL is the JWKS document's address.
	URL string
	// Name is the iss claim of its tokens; Audience their aud.
	Name     string
	Audience string

	t       testing.TB
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
	is := &Issuer{t: t, Name: name, Audience: "herald"}
	is.signers = []*auth.Signer{is.newSigner(kind)}
	is.srv = httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL + "/.well-known/jwks.json"
	return is
}

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
func (is *Issuer) NewKey(kind Kind) *auth.Signer { return is.newSigner(kind) }

func (is *Issuer) newSigner(kind Kind) *auth.Signer {
	is.t.Helper()
	is.n++
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
		is.t.Fatal(err)
	}
	s, err := auth.NewSigner(key, fmt.Sprintf("%s-key-%d", is.Name, is.n))
	if err != nil {
		is.t.Fatal(err)
	}
	s.Issuer, s.Audience = is.Name, is.Audience
	return s
}

// Rotate publishes a new key of kind that signs from now on, and keeps the
// old ones published when keepOld (an overlap window) or drops them.
func (is *Issuer) Rotate(kind Kind, keepOld bool) *auth.Signer {
	s := is.newSigner(kind)
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
	is.t.Helper()
	tok, err := is.Signer().Mint(subject, scopes, ttl)
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
}

// Operator mints a token holding the operator scope.
func (is *Issuer) Operator(subject string) string {
	return is.Token(subject, identity.OperatorScope)
}

// Claims mints a token with claims exactly as given.
func (is *Issuer) Claims(c jwt.MapClaims) string {
	is.t.Helper()
	tok, err := is.Signer().MintClaims(c)
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
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
