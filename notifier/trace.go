package notifier

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/internal/events"
)

// traceParent returns s when it is a well-formed W3C traceparent
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", ids not all
// zero) and "" otherwise, so a malformed header is dropped rather than
// stored and passed on. The notifier has no tracer of its own: it carries
// the producer's traceparent unchanged, so the status events and the
// users-service lookups of an order join the trace that created it.
func traceParent(s string) string {
	s = strings.TrimSpace(s)
	if !events.ValidTraceParent(s) {
		return ""
	}
	return s
}

type traceKey struct{}

// withTraceParent carries tp to outgoing users-service requests.
func withTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, tp)
}

// traceTransport sets the traceparent header of requests whose context
// carries one.
type traceTransport struct{ base http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tp, ok := r.Context().Value(traceKey{}).(string); ok && r.Header.Get(events.HeaderTraceParent) == "" {
		r = r.Clone(r.Context())
		r.Header.Set(events.HeaderTraceParent, tp)
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
