package subscription

import (
	"context"
	"time"

	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// A subscription lives no longer than the token that opened it: when the
// token expires, the client receives one UNAUTHENTICATED error saying so
// and the subscription ends (over WebSocket the connection closes, so the
// client reconnects with a fresh token).

type expiryKey struct{}

// WithExpiry returns ctx carrying when the caller's token expires (zero:
// never, for anonymous callers).
func WithExpiry(ctx context.Context, t time.Time) context.Context {
	if t.IsZero() {
		return ctx
	}
	return context.WithValue(ctx, expiryKey{}, t)
}

// expiresAt is when ctx's token expires; false without one.
func expiresAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(expiryKey{}).(time.Time)
	return t, ok
}

// expiry returns a channel that fires when ctx's token expires; nil (never)
// without one. stop releases the timer.
func expiry(ctx context.Context) (fired <-chan time.Time, stop func()) {
	t, ok := expiresAt(ctx)
	if !ok {
		return nil, func() {}
	}
	timer := time.NewTimer(time.Until(t))
	return timer.C, func() { timer.Stop() }
}

var expiredErrors = []gqlwire.Error{gqlwire.Coded(gqlwire.CodeUnauthenticated,
	"the token has expired: subscribe again with a new one")}

// Authenticate checks what a WebSocket client sent in connection_init (the
// payload, and the upgrade request's headers) and returns the context its
// operations run in, or the error the connection is refused with.
type Authenticate func(ctx context.Context, payload []byte, upgrade map[string][]string) (context.Context, *gqlwire.Error)

// WithAuthenticate makes connection_init prove who the client is.
func WithAuthenticate(a Authenticate) Option {
	return func(s *Server) { s.authenticate = a }
}
