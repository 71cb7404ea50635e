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
	parts := strings.Split(s, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return ""
	}
	if parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return ""
	}
	for _, p := range parts[:4] {
		if !lowerHex(p) {
			return ""
		}
	}
	if strings.Trim(parts[1], "0") == "" || strings.Trim(parts[2], "0") == "" {
		return ""
	}
	return s
}

func lowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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
