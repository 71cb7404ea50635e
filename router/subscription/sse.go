package subscription

import (
	"bytes"
	"net/http"
	"time"

	"github.com/heraldhq/herald/router/internal/gqlwire"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
)

// ServeSSE runs req (already read and checked by the caller, with
// gqlwire.ReadRequest and gqlwire.ValidateRequest as on every transport) as
// GraphQL over Server-Sent Events in "distinct connections" mode: each
// result is an `event: next` whose data is the GraphQL response, and the
// stream ends with `event: complete`. Errors that refuse the operation
// arrive as one `next` with errors, then `complete`. A subscriber that
// cannot keep up receives a `next` with the SUBSCRIBER_TOO_SLOW error, then
// `complete`.
func (s *Server) ServeSSE(w http.ResponseWriter, r *http.Request, eng Engine, req *graphql.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)

	ctx, cancel := s.streamContext(r.Context())
	defer cancel()
	var out bytes.Buffer
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	next := func(data []byte) bool {
		out.Reset()
		out.WriteString("event: next\ndata: ")
		out.Write(data) // the engine writes JSON on one line
		out.WriteString("\n\n")
		return write(out.Bytes())
	}
	if !write([]byte(":\n\n")) { // headers out at once: the client knows it is subscribed
		return
	}

	qw := s.newQueueWriter()
	executed := make(chan struct{})
	go func() {
		defer close(executed)
		s.execute(ctx, eng, req, qw)
	}()
	defer func() {
		cancel()
		<-executed
	}()

	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	expired, stopExpiry := expiry(r.Context())
	defer stopExpiry()
	for {
		select {
		case <-expired:
			cancel()
			next(gqlwire.Response(expiredErrors))
			write([]byte("event: complete\ndata:\n\n"))
			return
		case msg := <-qw.q:
			if !next(msg) {
				return
			}
		case <-keepAlive.C:
			if !write([]byte(":\n\n")) {
				return
			}
		case <-qw.done:
			switch qw.kind {
			case endTooSlow:
				cancel()
				s.log.Warn("SSE subscriber too slow: closed", "buffer", s.cfg.Buffer)
				next(gqlwire.Response(tooSlowErrors))
			case endFailed:
				if qw.errs == nil {
					return
				}
				next(gqlwire.Response(qw.errs))
			default:
				if !qw.flushRest(next) {
					return
				}
				if r.Context().Err() != nil {
					return // the client left: nobody reads a complete
				}
			}
			write([]byte("event: complete\ndata:\n\n"))
			return
		case <-ctx.Done():
			if r.Context().Err() == nil {
				// The router stops: say so, so the client reconnects
				// rather than report a broken stream.
				write([]byte("event: complete\ndata:\n\n"))
			}
			return
		}
	}
}
