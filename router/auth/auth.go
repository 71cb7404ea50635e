// Package auth verifies who calls the router: JWT bearer tokens issued by
// the team's identity provider, checked against its JWKS (refreshed on a
// schedule and when a token names a key id not seen yet, so keys rotate
// without a restart) or a configured public key. RS256, ES256 and EdDSA
// are accepted; HS256 only with the explicit development setting.
//
// What a verified token says becomes an identity.Identity: the subject and
// the scopes, with the provider's operator scope mapped onto
// identity.OperatorScope.
package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/identity"
)

// Config is how tokens are verified.
type Config struct {
	// JWKSURLs are the identity provider's key sets (one or more).
	JWKSURLs []string
	// PublicKeyFile is a PEM public key (RSA, ECDSA P-256 or Ed25519) used
	// for tokens without a key id, or when no JWKS is configured.
	PublicKeyFile string
	// DevHS256Secret accepts HS256 tokens signed with it: development only.
	DevHS256Secret string
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audience, when set, must be in the aud claim.
	Audience string
	// ClockSkew is the leeway for exp, nbf and iat.
	ClockSkew time.Duration
	// JWKSRefresh is how often key sets are fetched again.
	JWKSRefresh time.Duration
	// JWKSUnknownKIDInterval is the least time between fetches caused by
	// tokens naming an unknown key id (a flood of made-up ids costs one
	// fetch per interval).
	JWKSUnknownKIDInterval time.Duration
	// OperatorScope is the provider's scope that makes a caller an operator.
	OperatorScope string
	// ScopeClaim names the claim holding scopes: a space-separated string
	// ("scope", OAuth 2.0) or a list of strings ("scp", "scopes").
	ScopeClaim string
	// CacheSize is how many verified tokens are remembered (0: none). A
	// remembered token is not verified again until CacheTTL passes or it
	// expires, whichever is first.
	CacheSize int
	// CacheTTL bounds how long a verified token is remembered: a key the
	// provider withdraws is noticed at the next JWKS fetch anyway.
	CacheTTL time.Duration
}

// Enabled tells whether any way to verify tokens is configured.
func (c Config) Enabled() bool {
	return len(c.JWKSURLs) > 0 || c.PublicKeyFile != "" || c.DevHS256Secret != ""
}

// Defaults.
const (
	DefaultClockSkew              = 30 * time.Second
	DefaultJWKSRefresh            = 5 * time.Minute
	DefaultJWKSUnknownKIDInterval = 10 * time.Second
	DefaultScopeClaim             = "scope"
	DefaultCacheSize              = 10_000
	DefaultCacheTTL               = time.Minute
)

// Load reads the configuration from v.
func Load(v *config.Vars) Config {
	c := Config{
		JWKSURLs:               v.List("HERALD_AUTH_JWKS_URLS", "", "identity provider JWKS URLs, comma-separated (keys refreshed on schedule and on an unknown key id)"),
		PublicKeyFile:          v.String("HERALD_AUTH_PUBLIC_KEY_FILE", "", "PEM public key (RSA, ECDSA P-256 or Ed25519) verifying tokens without a JWKS key id"),
		DevHS256Secret:         v.String("HERALD_AUTH_DEV_HS256_SECRET", "", "DEVELOPMENT ONLY: accept HS256 tokens signed with this shared secret (at least 32 bytes)"),
		Issuer:                 v.String("HERALD_AUTH_ISSUER", "", "required iss claim (empty: not checked; set it in production)"),
		Audience:               v.String("HERALD_AUTH_AUDIENCE", "", "required aud claim (empty: not checked; set it in production)"),
		ClockSkew:              v.Duration("HERALD_AUTH_CLOCK_SKEW", DefaultClockSkew, "leeway for exp, nbf and iat"),
		JWKSRefresh:            v.Duration("HERALD_AUTH_JWKS_REFRESH", DefaultJWKSRefresh, "how often JWKS are fetched again"),
		JWKSUnknownKIDInterval: v.Duration("HERALD_AUTH_JWKS_UNKNOWN_KID_INTERVAL", DefaultJWKSUnknownKIDInterval, "least time between JWKS fetches caused by unknown key ids"),
		OperatorScope:          v.String("HERALD_AUTH_OPERATOR_SCOPE", identity.OperatorScope, "the identity provider's scope that lets a caller act on anyone's data"),
		ScopeClaim:             v.String("HERALD_AUTH_SCOPE_CLAIM", DefaultScopeClaim, "claim holding the scopes (space-separated string or list)"),
		CacheSize:              v.Int("HERALD_AUTH_CACHE_SIZE", DefaultCacheSize, "verified tokens remembered, so a client's next requests skip the signature check; 0 verifies every request"),
		CacheTTL:               v.Duration("HERALD_AUTH_CACHE_TTL", DefaultCacheTTL, "longest a verified token is remembered (never past its exp)"),
	}
	v.Check(c.CacheSize >= 0, "HERALD_AUTH_CACHE_SIZE must not be negative")
	v.Check(c.DevHS256Secret == "" || len(c.DevHS256Secret) >= 32, "HERALD_AUTH_DEV_HS256_SECRET must be at least 32 bytes")
	for _, u := range c.JWKSURLs {
		v.Check(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://"), "HERALD_AUTH_JWKS_URLS: %q is not an http(s) URL", u)
	}
	v.Check(c.OperatorScope != "", "HERALD_AUTH_OPERATOR_SCOPE must not be empty")
	return c
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cache    *lru.Cache[string, verified] // nil: every token verified
	cacheTTL time.Duration
	parser   *jwt.Parser
	jwks     keyfunc.Keyfunc // nil: none configured
	static   any             // public key from PublicKeyFile; nil: none
	hmac     []byte          // DevHS256Secret; nil: HS256 refused
	operator string
	claim    string
}

// Errors a token is refused with; their text is what clients read.
var (
	ErrMalformed = errors.New("the Authorization header must be \"Bearer <token>\"")
	ErrExpired   = errors.New("the token has expired")
	ErrInvalid   = errors.New("the token is not valid")
)

// NewVerifier starts a verifier. Key sets are fetched in the background
// until ctx ends; a key set that cannot be fetched at start is logged and
// fetched again on its schedule (tokens fail until then).
func NewVerifier(ctx context.Context, c Config, client *http.Client, logger *slog.Logger) (*Verifier, error) {
	if !c.Enabled() {
		return nil, errors.New("auth: no way to verify tokens: set HERALD_AUTH_JWKS_URLS or HERALD_AUTH_PUBLIC_KEY_FILE")
	}
	if c.OperatorScope == "" {
		c.OperatorScope = identity.OperatorScope
	}
	if c.ScopeClaim == "" {
		c.ScopeClaim = DefaultScopeClaim
	}
	v := &Verifier{operator: c.OperatorScope, claim: c.ScopeClaim, cacheTTL: c.CacheTTL}
	if c.CacheSize > 0 {
		if v.cacheTTL <= 0 {
			v.cacheTTL = DefaultCacheTTL
		}
		v.cache, _ = lru.New[string, verified](c.CacheSize)
	}
	methods := []string{"RS256", "ES256", "EdDSA"}
	if c.DevHS256Secret != "" {
		v.hmac = []byte(c.DevHS256Secret)
		methods = append(methods, "HS256")
		logger.Warn("HS256 tokens accepted (HERALD_AUTH_DEV_HS256_SECRET): development only")
	}
	if c.PublicKeyFile != "" {
		key, err := readPublicKey(c.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		v.static = key
	}
	if len(c.JWKSURLs) > 0 {
		refresh, unknown := c.JWKSRefresh, c.JWKSUnknownKIDInterval
		if refresh <= 0 {
			refresh = DefaultJWKSRefresh
		}
		if unknown <= 0 {
			unknown = DefaultJWKSUnknownKIDInterval
		}
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, c.JWKSURLs, keyfunc.Override{
			Client:          client,
			HTTPTimeout:     10 * time.Second,
			RefreshInterval: refresh,
			// One fetch per interval however many unknown ids arrive; a
			// request never waits for the limiter (a made-up key id must
			// not hold requests).
			RefreshUnknownKID: rate.NewLimiter(rate.Every(unknown), 1),
			RateLimitWaitMax:  time.Millisecond,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					logger.WarnContext(ctx, "JWKS fetch failed", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS: %w", err)
		}
		v.jwks = k
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(c.ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Token returns the bearer token in h's Authorization header: "" when
// there is none, ErrMalformed when the header is not a bearer token.
func Token(h http.Header) (string, error) {
	a := h.Get("Authorization")
	if a == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(a, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", ErrMalformed
	}
	return strings.TrimSpace(tok), nil
}

// verified is a remembered verification.
type verified struct {
	id     identity.Identity
	exp    time.Time
	forget time.Time // when to verify again
}

// Verify checks raw and returns the caller and when the token expires.
// Errors are ErrExpired or ErrInvalid, wrapping the cause (for logs).
// A token verified within CacheTTL (and not expired) is answered from
// memory; refusals are never remembered.
func (v *Verifier) Verify(ctx context.Context, raw string) (identity.Identity, time.Time, error) {
	if v.cache == nil {
		return v.verify(ctx, raw)
	}
	now := time.Now()
	if e, ok := v.cache.Get(raw); ok && now.Before(e.forget) {
		return e.id, e.exp, nil
	}
	id, exp, err := v.verify(ctx, raw)
	if err == nil {
		v.cache.Add(raw, verified{id: id, exp: exp, forget: earliest(exp, now.Add(v.cacheTTL))})
	}
	return id, exp, err
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// verify checks raw's signature and claims.
func (v *Verifier) verify(ctx context.Context, raw string) (identity.Identity, time.Time, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(raw, claims, v.keyFor(ctx))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return identity.Identity{}, time.Time{}, fmt.Errorf("%w: %w", ErrExpired, err)
		}
		return identity.Identity{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sub, _ := claims["sub"].(string)
	if !validSubject(sub) {
		return identity.Identity{}, time.Time{}, fmt.Errorf("%w: sub claim missing or not a printable string of at most 255 bytes", ErrInvalid)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return identity.Identity{}, time.Time{}, fmt.Errorf("%w: exp claim", ErrInvalid)
	}
	id := identity.Identity{Subject: sub, Scopes: v.scopes(claims)}
	return id, exp.Time, nil
}

// scopes reads the scope claim (string or list), keeping only scopes that
// can travel in a header, and maps the operator scope.
func (v *Verifier) scopes(claims jwt.MapClaims) []string {
	var in []string
	switch s := claims[v.claim].(type) {
	case string:
		in = strings.Fields(s)
	case []any:
		for _, e := range s {
			if str, ok := e.(string); ok {
				in = append(in, str)
			}
		}
	}
	out := in[:0:0]
	for _, s := range in {
		if !validScope(s) {
			continue
		}
		if s == v.operator {
			s = identity.OperatorScope
		} else if s == identity.OperatorScope {
			continue // only the configured provider scope grants it
		}
		out = append(out, s)
	}
	return out
}

func (v *Verifier) keyFor(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "HS256" {
			if v.hmac == nil {
				return nil, errors.New("HS256 is not accepted")
			}
			return v.hmac, nil
		}
		_, hasKID := t.Header["kid"]
		if v.jwks != nil && (hasKID || v.static == nil) {
			return v.jwks.KeyfuncCtx(ctx)(t)
		}
		if v.static != nil {
			return v.static, nil
		}
		return nil, errors.New("no key to verify with")
	}
}

// parsePEM parses the first PEM block of b, the what read from path.
func parsePEM(what, path string, b []byte, parse func(der []byte) (any, error)) (any, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("auth: %s %s: no PEM block", what, path)
	}
	key, err := parse(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: %s %s: %w", what, path, err)
	}
	return key, nil
}

func readPublicKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: public key: %w", err)
	}
	key, err := parsePEM("public key", path, b, x509.ParsePKIXPublicKey)
	if err != nil {
		return nil, err
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("auth: public key %s: %T is not RSA, ECDSA or Ed25519", path, key)
}

// validSubject: headers carry it, so printable ASCII or UTF-8 without
// control characters, bounded.
func validSubject(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}

func validScope(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f {
			return false
		}
	}
	return s != ""
}
