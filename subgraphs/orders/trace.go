package orders

import (
	"context"
	"net/http"
	"regexp"
)

// The W3C trace context header travels from the request into the event, so a
// trace spans router → orders → outbox → notifier.
type traceKey struct{}

var traceParentRE = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// withTraceParent keeps a well-formed incoming traceparent in the context.
func withTraceParent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := r.Header.Get("traceparent"); traceParentRE.MatchString(tp) {
			r = r.WithContext(context.WithValue(r.Context(), traceKey{}, tp))
		}
		next.ServeHTTP(w, r)
	})
}

func traceParent(ctx context.Context) string {
	tp, _ := ctx.Value(traceKey{}).(string)
	return tp
}
