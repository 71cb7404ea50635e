package subscription

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Engine runs one operation, writing its results to w (the router's
// executor). For a subscription it returns once the subscription started.
type Engine interface {
	Execute(ctx context.Context, req *graphql.Request, w resolve.SubscriptionResponseWriter) error
}

// Refusal is an operation refused by the Check hook before it runs: the
// client receives one error with Code in extensions.code.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// ParseError wraps what an Engine's parser refused, so that the client sees
// GRAPHQL_PARSE_FAILED as over HTTP rather than the validation code.
type ParseError struct{ Err error }

func (e *ParseError) Error() string { return e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

// Option adjusts a Server.
type Option func(*Server)

// WithCheck makes every operation received over WebSocket pass check
// before it runs (HTTP and SSE operations are checked by the caller of
// ServeSSE). The request has already passed the checks every transport
// makes of a request object (a query that is not blank, variables an
// object or null); one that fails them is refused with BAD_USER_INPUT and
// never reaches check. check returns nil to let the operation run, a
// *Refusal, or a parse error as the engine reports it; the client then
// receives an error message for that operation, and the connection stays
// open.
func WithCheck(check func(ctx context.Context, req *graphql.Request) error) Option {
	return func(s *Server) { s.check = check }
}

// WithOriginPatterns lets browser pages from other origins open the
// WebSocket: patterns as in github.com/coder/websocket AcceptOptions
// (a full origin such as https://app.example.com, or a host pattern; "*"
// matches any host). Without it only same-origin pages (and clients that
// send no Origin) are accepted.
func WithOriginPatterns(patterns ...string) Option {
	return func(s *Server) { s.originPatterns = append(s.originPatterns, patterns...) }
}

// Server serves subscriptions over graphql-transport-ws and SSE. Streams end
// when the client leaves or when the server's context ends (router shutdown).
type Server struct {
	authenticate Authenticate // nil: connection_init proves nothing
	ctx          context.Context
	cfg          Config
	log          *slog.Logger
	hub          *Hub

	check          func(context.Context, *graphql.Request) error
	originPatterns []string

	active  atomic.Int64
	tooSlow atomic.Uint64
	dropped atomic.Uint64
	wg      sync.WaitGroup
}

// NewServer returns a server whose streams last at most as long as ctx. hub
// may be nil (no stream configured).
func NewServer(ctx context.Context, cfg Config, hub *Hub, logger *slog.Logger, opts ...Option) *Server {
	logger = logging.OrDiscard(logger)
	s := &Server{ctx: ctx, cfg: cfg.withDefaults(), log: logger.With("component", "subscription"), hub: hub}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Hub returns the stream hub, nil when none is configured.
func (s *Server) Hub() *Hub { return s.hub }

// Stats are counters ready to be exported as metrics.
type Stats struct {
	// Active subscriptions (both transports).
	Active int64
	// TooSlow counts subscriptions closed with SUBSCRIBER_TOO_SLOW.
	TooSlow uint64
	// Dropped counts messages discarded with them.
	Dropped uint64
	// Received and Malformed count events read from the stream.
	Received, Malformed uint64
	// Watchers is the number of distinct filters being watched.
	Watchers int
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	st := Stats{Active: s.active.Load(), TooSlow: s.tooSlow.Load(), Dropped: s.dropped.Load()}
	if s.hub != nil {
		st.Received, st.Malformed, st.Watchers = s.hub.received.Load(), s.hub.malformed.Load(), s.hub.Watchers()
	}
	return st
}

// Wait blocks until every stream has ended (after the server's context).
func (s *Server) Wait() { s.wg.Wait() }

// IsWebSocket tells a WebSocket upgrade request.
func IsWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && headerHasToken(r.Header, "Connection", "upgrade")
}

// WantsSSE tells a request asking for text/event-stream.
func WantsSSE(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// streamContext ends with the request or with the server.
func (s *Server) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// endKind says why a subscription's writer finished.
type endKind int

const (
	endComplete endKind = iota + 1 // the source or the operation completed (last, if set, is its final message)
	endTooSlow                     // the queue overflowed
	endFailed                      // the operation was refused before it ran
)

var errTooSlow = errors.New("subscriber too slow")

// queueWriter is the engine's resolve.SubscriptionResponseWriter for one
// subscription. The engine writes and flushes each update from the
// subscription's worker; Flush moves the update into a bounded queue that the
// transport drains, and never blocks: a full queue ends the subscription with
// endTooSlow.
type queueWriter struct {
	s    *Server
	buf  bytes.Buffer // the update being written; engine worker only
	q    chan []byte
	done chan struct{}
	once sync.Once
	kind endKind
	errs []gqlwire.Error // endFailed
	last []byte          // endComplete: a terminal response the engine sent with Error
}

func (s *Server) newQueueWriter() *queueWriter {
	return &queueWriter{s: s, q: make(chan []byte, s.cfg.Buffer), done: make(chan struct{})}
}

func (w *queueWriter) finish(kind endKind, errs []gqlwire.Error) bool {
	return w.finishWith(kind, errs, nil)
}

func (w *queueWriter) finishWith(kind endKind, errs []gqlwire.Error, last []byte) bool {
	first := false
	w.once.Do(func() {
		w.kind, w.errs, w.last = kind, errs, last
		close(w.done)
		first = true
	})
	return first
}

// flushRest hands next, after an endComplete, the updates still queued and
// the terminal response, if any; false when next failed (the client is gone).
func (w *queueWriter) flushRest(next func([]byte) bool) bool {
	for {
		select {
		case msg := <-w.q:
			if !next(msg) {
				return false
			}
		default:
			return w.last == nil || next(w.last)
		}
	}
}

func (w *queueWriter) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *queueWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *queueWriter) Flush() error {
	if w.buf.Len() == 0 {
		return nil
	}
	msg := bytes.Clone(w.buf.Bytes())
	w.buf.Reset()
	if w.finished() {
		return errTooSlow
	}
	select {
	case w.q <- msg:
		return nil
	default:
	}
	if w.finish(endTooSlow, nil) {
		w.s.tooSlow.Add(1)
		w.s.dropped.Add(uint64(len(w.q)) + 1)
	}
	return errTooSlow
}

func (w *queueWriter) Complete()        { w.finish(endComplete, nil) }
func (w *queueWriter) Heartbeat() error { return nil }

// Error ends the subscription with data, a GraphQL response carrying the
// errors (the source failed, or its trigger fell behind); the transports
// send it after what is queued, then complete.
func (w *queueWriter) Error(data []byte) { w.finishWith(endComplete, nil, bytes.Clone(data)) }
func (w *queueWriter) executed(err error, log *slog.Logger) {
	if err != nil {
		w.finish(endFailed, executionErrors(err, log))
		return
	}
	// A query or mutation (allowed over WebSocket) is written without a
	// Flush; a subscription ends here once its context ended.
	_ = w.Flush()
	w.finish(endComplete, nil)
}

// execute runs req on eng until ctx ends or the operation completes; the
// result arrives through w.
func (s *Server) execute(ctx context.Context, eng Engine, req *graphql.Request, w *queueWriter) {
	s.active.Add(1)
	defer s.active.Add(-1)
	w.executed(eng.Execute(ctx, req, w), s.log)
}

var tooSlowErrors = []gqlwire.Error{gqlwire.Coded(gqlwire.CodeTooSlow,
	"the subscription was closed because the client did not read its messages fast enough; subscribe again and refetch the current state")}

// executionErrors maps a refusal of the check, and what the engine refused
// before running the operation (parse, validation, variables), to client
// errors with codes, with the HTTP handler's mapping (gqlwire.ClientErrors);
// nil for a canceled operation (nobody reads the answer); anything else is
// internal and only logged.
func executionErrors(err error, log *slog.Logger) []gqlwire.Error {
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return []gqlwire.Error{gqlwire.Coded(refusal.Code, refusal.Message)}
	}
	code := gqlwire.CodeValidationFailed
	if _, ok := errors.AsType[*ParseError](err); ok {
		code = gqlwire.CodeParseFailed
	}
	if errs := gqlwire.ClientErrors(err, code); errs != nil {
		return errs
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	log.Error("subscription execution failed", "err", err)
	return gqlwire.Internal()
}
