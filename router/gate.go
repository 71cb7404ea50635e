package router

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/router/auth"
	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// RateLimit is the token bucket each caller gets: per verified subject, or
// per client IP address when anonymous. Counts are per router instance.
type RateLimit struct {
	// PerSecond is the sustained rate; zero turns limiting off.
	PerSecond float64
	// Burst is the bucket's size.
	Burst int
	// MaxCallers bounds the buckets kept (least recently used dropped).
	MaxCallers int
}

// Rate limit defaults.
const (
	DefaultRatePerSecond  = 100
	DefaultRateBurst      = 200
	DefaultRateMaxCallers = 100_000
)

// gate decides who is calling and whether they may call now, before
// anything else about a request is read.
type gate struct {
	verifier *auth.Verifier // nil: no tokens accepted, every caller anonymous
	buckets  *lru.Cache[string, *rate.Limiter]
	limit    RateLimit
	logger   *slog.Logger
}

func newGate(v *auth.Verifier, rl RateLimit, logger *slog.Logger) *gate {
	g := &gate{verifier: v, limit: rl, logger: logger}
	if rl.PerSecond > 0 {
		if rl.Burst <= 0 {
			rl.Burst = max(1, int(math.Ceil(rl.PerSecond)))
		}
		if rl.MaxCallers <= 0 {
			rl.MaxCallers = DefaultRateMaxCallers
		}
		g.limit = rl
		g.buckets, _ = lru.New[string, *rate.Limiter](rl.MaxCallers)
	}
	return g
}

// callerRefusal is a request refused for who sent it.
type callerRefusal struct {
	errorResponse
	retryAfter time.Duration // 429 only
}

// identify verifies tok ("" is anonymous).
func (g *gate) identify(ctx context.Context, tok string) (identity.Identity, time.Time, *callerRefusal) {
	if tok == "" {
		return identity.Identity{}, time.Time{}, nil
	}
	if g.verifier == nil {
		return identity.Identity{}, time.Time{}, unauthenticated("this router accepts no tokens (no HERALD_AUTH_* verification is configured)")
	}
	id, exp, err := g.verifier.Verify(ctx, tok)
	if err != nil {
		g.logger.Debug("token refused", "err", err)
		msg := auth.ErrInvalid.Error()
		if errors.Is(err, auth.ErrExpired) {
			msg = auth.ErrExpired.Error()
		}
		return identity.Identity{}, time.Time{}, unauthenticated(msg)
	}
	return id, exp, nil
}

// identifyRequest reads and verifies the bearer token of r. Refused tokens
// count against the client address's bucket, and an address whose bucket
// is empty is answered 429 before its next token is verified: a flood of
// made-up tokens costs one signature check per allowed request.
func (g *gate) identifyRequest(r *http.Request) (identity.Identity, time.Time, *callerRefusal) {
	tok, err := auth.Token(r.Header)
	if err != nil {
		return identity.Identity{}, time.Time{}, unauthenticated(err.Error())
	}
	if tok != "" && g.buckets != nil {
		if b, ok := g.buckets.Peek(addressKey(r.RemoteAddr)); ok && b.Tokens() < 1 {
			return identity.Identity{}, time.Time{}, g.allow(identity.Identity{}, r.RemoteAddr)
		}
	}
	id, exp, refused := g.identify(r.Context(), tok)
	if refused != nil && tok != "" {
		_ = g.allow(identity.Identity{}, r.RemoteAddr) // one from the address's bucket
	}
	return id, exp, refused
}

// addressKey is the bucket of an anonymous caller at remoteAddr.
func addressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return "ip:" + host
}

func unauthenticated(msg string) *callerRefusal {
	return &callerRefusal{errorResponse: errorResponse{http.StatusUnauthorized, gqlwire.CodeUnauthenticated, msg}}
}

// allow takes one request from the caller's bucket.
func (g *gate) allow(id identity.Identity, remoteAddr string) *callerRefusal {
	if g.buckets == nil {
		return nil
	}
	key := "sub:" + id.Subject
	if id.Subject == "" {
		key = addressKey(remoteAddr)
	}
	b, ok := g.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(g.limit.PerSecond), g.limit.Burst)
		// A concurrent first request may have added one: keep that.
		if prev, found, _ := g.buckets.PeekOrAdd(key, b); found {
			b = prev
		}
	}
	now := time.Now()
	res := b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return &callerRefusal{
			errorResponse: errorResponse{http.StatusTooManyRequests, gqlwire.CodeRateLimited, "too many requests: slow down and retry after the time in Retry-After"},
			retryAfter:    d,
		}
	}
	return nil
}

// write answers a refusal with its status, headers and one GraphQL error.
func (c *callerRefusal) write(w http.ResponseWriter) {
	switch c.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(c.retryAfter.Seconds()))))
	}
	writeErrors(w, c.status, []gqlwire.Error{c.gqlError()})
}
