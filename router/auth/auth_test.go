package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/router/auth"
	"github.com/heraldhq/herald/router/auth/authtest"
)

func verifier(t *testing.T, c auth.Config) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(t.Context(), c, &http.Client{Timeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every accepted algorithm verifies against a JWKS served over HTTP, and
// the claims become the identity: subject, scopes, the provider's operator
// scope mapped onto Herald's.
func TestVerifyAlgorithms(t *testing.T) {
	for _, kind := range []authtest.Kind{authtest.RS256, authtest.ES256, authtest.Ed25519} {
		is := authtest.NewIssuer(t, "https://id.example.test", kind)
		c := is.Config()
		c.OperatorScope = "ops"
		v := verifier(t, c)
		id, exp, err := v.Verify(t.Context(), is.Token("alice", "orders:read", "ops", identity.OperatorScope))
		if err != nil {
			t.Fatalf("kind %d: %v", kind, err)
		}
		want := []string{"orders:read", identity.OperatorScope}
		if id.Subject != "alice" || strings.Join(id.Scopes, " ") != strings.Join(want, " ") {
			t.Errorf("kind %d: identity %+v, want alice with %v (the token's own herald:admin is not the provider's operator scope)", kind, id, want)
		}
		if time.Until(exp) < 59*time.Minute {
			t.Errorf("kind %d: expiry %v", kind, exp)
		}
	}
}

// What the verifier refuses, each with the error a client reads.
func TestVerifyRefuses(t *testing.T) {
	is := authtest.NewIssuer(t, "https://id.example.test", authtest.ES256)
	other := authtest.NewIssuer(t, "https://other.example.test", authtest.ES256)
	v := verifier(t, is.Config())
	now := time.Now()
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "iss": is.Name, "aud": is.Audience,
		"exp": now.Add(time.Hour).Unix()}).SignedString([]byte("a-guessed-shared-secret-of-32-bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "iss": is.Name, "aud": is.Audience,
		"exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, err := is.NewKey(authtest.ES256).Mint("alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(c jwt.MapClaims) string {
		base := jwt.MapClaims{"sub": "alice", "iss": is.Name, "aud": is.Audience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, val := range c {
			if val == nil {
				delete(base, k)
			} else {
				base[k] = val
			}
		}
		return is.Claims(base)
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"expired", is.TokenFor("alice", -time.Hour), auth.ErrExpired},
		{"another issuer's token", other.Token("alice"), auth.ErrInvalid},
		{"signed with a key the issuer does not publish", unknownKey, auth.ErrInvalid},
		{"HS256 without the development setting", hs, auth.ErrInvalid},
		{"alg none", none, auth.ErrInvalid},
		{"wrong audience", claims(jwt.MapClaims{"aud": "someone-else"}), auth.ErrInvalid},
		{"wrong issuer", claims(jwt.MapClaims{"iss": "https://evil.example.test"}), auth.ErrInvalid},
		{"no exp", claims(jwt.MapClaims{"exp": nil}), auth.ErrInvalid},
		{"not yet valid", claims(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}), auth.ErrInvalid},
		{"no subject", claims(jwt.MapClaims{"sub": nil}), auth.ErrInvalid},
		{"subject with a line break", claims(jwt.MapClaims{"sub": "alice\r\nX-Herald-Scopes: herald:admin"}), auth.ErrInvalid},
		{"garbage", "not.a.token", auth.ErrInvalid},
		{"tampered payload", tamper(is.Token("alice")), auth.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, _, err := v.Verify(t.Context(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", id, err, tt.want)
			}
		})
	}
}

// tamper changes the payload and keeps the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	if p[5] == 'A' {
		p[5] = 'B'
	} else {
		p[5] = 'A'
	}
	parts[1] = string(p)
	return strings.Join(parts, ".")
}

// Keys rotate without a restart: a token naming a key id the verifier has
// not seen makes it fetch the key set again (once per interval, however
// many such tokens arrive), and a key the provider dropped stops working at
// the next fetch.
func TestJWKSRotation(t *testing.T) {
	is := authtest.NewIssuer(t, "https://id.example.test", authtest.Ed25519)
	c := is.Config()
	c.JWKSUnknownKIDInterval = 50 * time.Millisecond
	v := verifier(t, c)
	old := is.Token("alice")
	if _, _, err := v.Verify(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	before := is.Fetches()
	is.Rotate(authtest.Ed25519, false) // the old key is withdrawn
	fresh := is.Token("alice")
	// The first token with the new key id may meet the limiter right after
	// start-up's fetch: it is refused, and a later one passes.
	var err error
	verified := func() (bool, error) { _, _, err = v.Verify(t.Context(), fresh); return err == nil, nil }
	if !testwait.Value(t, verified, func(ok bool) bool { return ok }) {
		t.Fatalf("token signed with the rotated key still refused: %v", err)
	}
	if is.Fetches() == before {
		t.Fatal("the key set was not fetched again")
	}
	if _, _, err := v.Verify(t.Context(), old); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("token of the withdrawn key: %v, want refused", err)
	}
}

// A configured public key verifies tokens without a key id; HS256 only with
// the development secret.
func TestPublicKeyFileAndDevHS256(t *testing.T) {
	is := authtest.NewIssuer(t, "https://id.example.test", authtest.RS256)
	pem, err := is.Signer().PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner(is.Signer().Key(), "") // no kid
	if err != nil {
		t.Fatal(err)
	}
	secret := "development-only-shared-secret-of-32b"
	v := verifier(t, auth.Config{PublicKeyFile: path, DevHS256Secret: secret, ClockSkew: time.Second})
	tok, _ := signer.Mint("bob", nil, time.Hour)
	if id, _, err := v.Verify(t.Context(), tok); err != nil || id.Subject != "bob" {
		t.Fatalf("public key: %+v %v", id, err)
	}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "dev", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if id, _, err := v.Verify(t.Context(), hs); err != nil || id.Subject != "dev" {
		t.Fatalf("HS256 with the development secret: %+v %v", id, err)
	}
}

func TestToken(t *testing.T) {
	for h, want := range map[string]string{"": "", "Bearer abc": "abc", "bearer  abc ": "abc"} {
		got, err := auth.Token(http.Header{"Authorization": {h}})
		if err != nil || got != want {
			t.Errorf("Token(%q) = %q, %v", h, got, err)
		}
	}
	for _, h := range []string{"Basic abc", "Bearer", "abc"} {
		if _, err := auth.Token(http.Header{"Authorization": {h}}); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("Token(%q) = %v, want ErrMalformed", h, err)
		}
	}
}

func TestLoadChecks(t *testing.T) {
	env := map[string]string{"HERALD_AUTH_DEV_HS256_SECRET": "short", "HERALD_AUTH_JWKS_URLS": "ftp://x", "HERALD_AUTH_OPERATOR_SCOPE": ""}
	v := config.New(func(k string) string { return env[k] })
	c := auth.Load(v)
	err := v.Err()
	for _, w := range []string{"at least 32 bytes", "not an http(s) URL"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Load error %v lacks %q", err, w)
		}
	}
	if c.OperatorScope != identity.OperatorScope {
		t.Errorf("operator scope default %q", c.OperatorScope)
	}
	if _, err := auth.NewVerifier(context.Background(), auth.Config{}, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a verifier with no key source was made")
	}
}

// The verified-token cache answers exactly as verification does: the same
// identity and expiry for every accepted token, the same refusal for every
// refused one (refusals are never remembered), and a remembered token is
// refused once it expires.
func TestVerifyCacheAnswersLikeVerification(t *testing.T) {
	is := authtest.NewIssuer(t, "https://id.example.test", authtest.ES256)
	other := authtest.NewIssuer(t, "https://other.example.test", authtest.ES256)
	plainCfg := is.Config()
	cachedCfg := is.Config()
	cachedCfg.CacheSize, cachedCfg.CacheTTL = 100, time.Hour
	plain, cached := verifier(t, plainCfg), verifier(t, cachedCfg)

	unknown, _ := is.NewKey(authtest.ES256).Mint("x", nil, time.Hour)
	corpus := []string{
		is.Token("alice"), is.Token("alice", "orders:read"), is.Token("bob", identity.OperatorScope),
		is.Token("carol", "a", "b", "c"), is.TokenFor("dave", -time.Minute), other.Token("alice"),
		unknown, tamper(is.Token("alice")), "not.a.token", "",
	}
	type answer struct {
		id  string
		exp int64
		err string
	}
	ask := func(v *auth.Verifier, tok string) answer {
		id, exp, err := v.Verify(t.Context(), tok)
		a := answer{id: id.Subject + "|" + strings.Join(id.Scopes, " "), exp: exp.Unix()}
		switch {
		case errors.Is(err, auth.ErrExpired):
			a.err = "expired"
		case err != nil:
			a.err = "invalid"
		}
		return a
	}
	for round := range 3 { // the second and third rounds meet the cache
		for i, tok := range corpus {
			if p, c := ask(plain, tok), ask(cached, tok); p != c {
				t.Errorf("round %d, token %d: verified %+v, cached %+v", round, i, p, c)
			}
		}
	}

	// A remembered token is refused once it expires (the leeway included).
	short := is.TokenFor("erin", 2*time.Second)
	if a := ask(cached, short); a.err != "" {
		t.Fatalf("fresh short token: %+v", a)
	}
	testwait.For(t, "the short token to expire", func() bool { return ask(plain, short).err != "" })
	if a := ask(cached, short); a.err != "expired" {
		t.Fatalf("expired token from the cache: %+v, want refused as expired", a)
	}
}
