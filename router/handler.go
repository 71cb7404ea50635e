package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/buger/jsonparser"
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/errorcodes"

	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/router/auth"
	"github.com/heraldhq/herald/router/internal/gqlwire"
	"github.com/heraldhq/herald/router/playground"
	"github.com/heraldhq/herald/router/subscription"
)

// handler serves GraphQL over HTTP, the playground, /metrics and /healthz.
// The engine is swapped in atomically once the supergraph is composed, so the
// server can listen (and answer health checks) while subgraphs are still
// starting.
type handler struct {
	logger  *slog.Logger
	cfg     Config
	engine  atomic.Pointer[executor]
	mux     *http.ServeMux
	root    http.Handler // mux behind the CORS policy
	subs    *subscription.Server
	apq     *apqStore // nil when APQ is off
	metrics *metrics
	cors    *corsPolicy
	forward []string // canonical names of the headers forwarded to subgraphs
	gate    *gate    // who calls, and how often (gate.go)
}

// newRouterHandler serves with cfg; m may be nil (the handler then makes its
// own metrics).
func newRouterHandler(logger *slog.Logger, cfg Config, subs *subscription.Server, m *metrics) *handler {
	cfg = cfg.withDefaults()
	if m == nil {
		m = newMetrics(cfg.MetricsMaxOperations, subs)
	}
	h := &handler{logger: logger, cfg: cfg, mux: http.NewServeMux(), subs: subs,
		metrics: m, cors: newCORSPolicy(cfg.CORSOrigins), forward: canonicalHeaders(cfg.ForwardHeaders),
		gate: newGate(nil, cfg.RateLimit, logger)}
	if !cfg.DisableAPQ {
		h.apq = newAPQStore(cfg.APQCacheBytes)
	}
	checks := map[string]func(context.Context) error{
		"supergraph": func(context.Context) error {
			if h.engine.Load() == nil {
				return errors.New("supergraph not composed yet")
			}
			return nil
		},
	}
	if hub := subs.Hub(); hub != nil {
		checks["notification_stream"] = func(context.Context) error {
			select {
			case <-hub.Ready():
				return nil
			default:
			}
			// The hub starts before the engine is stored, so until then
			// "not started" does not yet mean "no notifications subgraph".
			if h.engine.Load() == nil {
				return errors.New("supergraph not composed yet")
			}
			if !hub.Started() {
				return nil // the graph has no notifications subgraph
			}
			return errors.New("notification status stream not positioned yet")
		}
	}
	h.mux.HandleFunc("POST /graphql", h.serveGraphQL)
	h.mux.HandleFunc("GET /graphql", h.serveGraphQL)
	if !cfg.DisablePlayground {
		h.mux.HandleFunc("GET /{$}", playground.Index)
		h.mux.HandleFunc("GET "+playground.Prefix, playground.Assets)
		h.mux.Handle("GET "+playground.Prefix+"defaults.json", playground.Defaults(cfg.PlaygroundHeaders))
	}
	if !cfg.DisableMetrics {
		h.mux.Handle("GET /metrics", m.handler())
	}
	h.mux.Handle("GET /healthz", httpserver.Health(checks))
	h.root = h.cors.wrap(h.mux)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// Buffers for request bodies and responses are pooled; ones that grew past
// maxPooledBuffer are dropped so one huge response does not pin memory.
const maxPooledBuffer = 1 << 20

var bufferPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }}

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

// extensionPaths are the persistedQuery keys inside GET's extensions
// parameter, in the order persistedQuery.set numbers them.
var extensionPaths = [][]string{{"persistedQuery", "version"}, {"persistedQuery", "sha256Hash"}}

// errorResponse is a request-level failure, reported before execution.
type errorResponse struct {
	status  int
	code    string
	message string
}

func (h *handler) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && subscription.IsWebSocket(r) {
		if !h.cors.allowWebSocket(r) {
			h.writeRequestError(w, errorResponse{http.StatusForbidden, gqlwire.CodeForbidden, "WebSocket connections from this origin are not allowed"})
			return
		}
		// The caller proves who they are in connection_init
		// (authenticateWS); opening connections counts per address.
		if c := h.gate.allow(identity.Identity{}, r.RemoteAddr); c != nil {
			h.refuseCaller(w, c)
			return
		}
		h.subs.ServeWS(w, r, h.currentEngine, h.cfg.MaxRequestBytes)
		return
	}
	// A browser opening /graphql gets the playground rather than an error.
	if !h.cfg.DisablePlayground && r.Method == http.MethodGet && !r.URL.Query().Has("query") && acceptsHTML(r) {
		playground.Index(w, r)
		return
	}
	// Who calls is settled first: a refused token or a caller over its rate
	// costs nothing more, and nothing reaches a subgraph.
	id, expires, c := h.gate.identifyRequest(r)
	if c == nil {
		c = h.gate.allow(id, r.RemoteAddr)
	}
	if c != nil {
		h.refuseCaller(w, c)
		return
	}
	r = r.WithContext(subscription.WithExpiry(identity.With(r.Context(), id), expires))
	eng := h.acquireEngine()
	if eng == nil {
		h.writeRequestError(w, errorResponse{http.StatusServiceUnavailable, gqlwire.CodeUnavailable, "the router is starting: the supergraph is not composed yet"})
		return
	}
	defer eng.release() // an SSE subscription runs inside this call

	body := getBuffer()
	defer putBuffer(body)
	var (
		req graphql.Request
		pq  persistedQuery
	)
	if r.Method == http.MethodGet {
		if e := readGET(r, &req, &pq); e != nil {
			h.refuse(w, *e)
			return
		}
	} else {
		data, e := h.readBody(w, r, body)
		if e != nil {
			h.refuse(w, *e)
			return
		}
		if data[0] == '[' {
			h.serveBatch(w, r, eng, data)
			return
		}
		if e := parseRequestObject(data, &req, &pq); e != nil {
			h.refuse(w, *e)
			return
		}
	}

	// The timeout covers the whole request; a subscription over SSE is a
	// stream and is not bounded by it.
	octx := withOutbound(r.Context(), r.Header, h.forward)
	ctx, cancel := context.WithTimeout(octx, h.cfg.RequestTimeout)
	defer cancel()
	out := getBuffer()
	defer putBuffer(out)
	start := time.Now()
	res := h.run(ctx, r, eng, &req, pq, out, true)
	if res.sse {
		cancel()
		h.subs.ServeSSE(w, r.WithContext(octx), parsedOperation{x: eng, op: res.op}, &req)
		return
	}
	h.metrics.request(res.label, start, res.status == http.StatusOK && !bytes.HasPrefix(out.Bytes(), errorsPrefix))
	if res.allow != "" {
		w.Header().Set("Allow", res.allow)
	}
	writeJSON(w, res.status, out.Bytes())
}

// refuseCaller answers a request refused for its caller and counts it.
func (h *handler) refuseCaller(w http.ResponseWriter, c *callerRefusal) {
	h.metrics.request(opOther, time.Now(), false)
	h.metrics.refusal(string(c.code))
	c.write(w)
}

// authenticateWS verifies the token a graphql-transport-ws client sends in
// its connection_init payload ({"Authorization": "Bearer …"}; a bare
// token under "token" is accepted too), or else on the upgrade request, and
// returns the context the connection's operations run in.
func (h *handler) authenticateWS(ctx context.Context, payload json.RawMessage, upgrade http.Header) (context.Context, *gqlwire.Error) {
	tok, err := wsToken(payload, upgrade)
	var c *callerRefusal
	if err != nil {
		c = unauthenticated(err.Error())
	}
	var (
		id      identity.Identity
		expires time.Time
	)
	if c == nil {
		id, expires, c = h.gate.identify(ctx, tok)
	}
	if c != nil {
		h.metrics.refusal(string(c.code))
		e := c.gqlError()
		return nil, &e
	}
	ctx = subscription.WithExpiry(identity.With(ctx, id), expires)
	return withOutbound(ctx, upgrade, h.forward), nil
}

// wsToken finds the bearer token of a WebSocket connection.
func wsToken(payload json.RawMessage, upgrade http.Header) (string, error) {
	var p map[string]json.RawMessage
	if len(bytes.TrimSpace(payload)) > 0 && json.Unmarshal(payload, &p) == nil {
		for k, v := range p {
			var s string
			if json.Unmarshal(v, &s) != nil {
				continue
			}
			switch strings.ToLower(k) {
			case "authorization":
				return auth.Token(http.Header{"Authorization": {s}})
			case "token":
				return strings.TrimSpace(s), nil
			}
		}
	}
	return auth.Token(upgrade)
}

// refuse answers a request-level error and counts it.
func (h *handler) refuse(w http.ResponseWriter, e errorResponse) {
	h.metrics.request(opOther, time.Now(), false)
	if e.code == gqlwire.CodeRequestTooLarge {
		h.metrics.refusal(gqlwire.CodeRequestTooLarge)
	}
	h.writeRequestError(w, e)
}

// serveBatch runs a JSON array of operations one after the other, within
// one request timeout, and answers a JSON array of their results (200, each
// result carrying its own errors).
func (h *handler) serveBatch(w http.ResponseWriter, r *http.Request, eng *executor, data []byte) {
	var elems [][]byte
	_, _ = jsonparser.ArrayEach(data, func(v []byte, _ jsonparser.ValueType, _ int, _ error) {
		elems = append(elems, v)
	})
	switch {
	case len(elems) == 0:
		h.refuse(w, errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, "a batch must hold at least one operation"})
		return
	case len(elems) > h.cfg.Limits.MaxBatch:
		h.metrics.refusal(gqlwire.CodeBatchTooLarge)
		h.refuse(w, errorResponse{http.StatusBadRequest, gqlwire.CodeBatchTooLarge,
			"the batch holds " + strconv.Itoa(len(elems)) + " operations; the limit is " + strconv.Itoa(h.cfg.Limits.MaxBatch)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	ctx = withOutbound(ctx, r.Header, h.forward)
	out := getBuffer()
	defer putBuffer(out)
	item := getBuffer()
	defer putBuffer(item)
	out.WriteByte('[')
	for i, el := range elems {
		if i > 0 {
			out.WriteByte(',')
		}
		item.Reset()
		start := time.Now()
		var (
			req graphql.Request
			pq  persistedQuery
			res runResult
		)
		if el[0] != '{' {
			res = runResult{status: http.StatusBadRequest, label: opOther}
			appendErrors(item, []gqlwire.Error{gqlwire.Coded(string(gqlwire.CodeBadUserInput), "each operation of a batch must be a JSON object")})
		} else if e := parseRequestObject(el, &req, &pq); e != nil {
			res = runResult{status: e.status, label: opOther}
			appendErrors(item, []gqlwire.Error{e.gqlError()})
		} else {
			res = h.run(ctx, r, eng, &req, pq, item, false)
		}
		h.metrics.request(res.label, start, res.status == http.StatusOK && !bytes.HasPrefix(item.Bytes(), errorsPrefix))
		out.Write(item.Bytes())
	}
	out.WriteByte(']')
	writeJSON(w, http.StatusOK, out.Bytes())
}

// runResult is how one operation ended.
type runResult struct {
	status int
	label  string     // operation label of metrics
	allow  string     // Allow header of a 405
	sse    bool       // a subscription to serve over SSE (nothing written)
	op     *operation // with sse: the parsed and checked operation
}

// run serves one operation into out: persisted query lookup, parse, limits,
// then execution on eng within ctx. single is false inside a batch (no SSE).
func (h *handler) run(ctx context.Context, r *http.Request, eng *executor, req *graphql.Request, pq persistedQuery, out *bytes.Buffer, single bool) runResult {
	fail := func(label string, e errorResponse) runResult {
		appendErrors(out, []gqlwire.Error{e.gqlError()})
		return runResult{status: e.status, label: label}
	}
	outcome, e := resolvePersisted(h.apq, pq, &req.Query)
	h.metrics.persisted(outcome)
	if e != nil {
		return fail(opOther, *e)
	}
	if e := validateRequest(req); e != nil {
		return fail(opOther, *e)
	}
	req.SetHeader(r.Header)

	op, err := eng.parse(req)
	if refused, ok := errors.AsType[*limitRefusal](err); ok {
		h.metrics.refusal(string(refused.code))
		return fail(opOther, refused.errorResponse)
	}
	if err != nil {
		return runResult{status: h.executionError(out, r, err, gqlwire.CodeParseFailed), label: opOther}
	}
	label := h.metrics.ops.label(op.name, op.found)
	if e := h.checkOperation(op, req.Variables); e != nil {
		return fail(label, *e)
	}
	switch {
	case op.typ == ast.OperationTypeMutation && r.Method == http.MethodGet:
		// GET must stay safe: caches and prefetchers may repeat it.
		res := fail(label, errorResponse{http.StatusMethodNotAllowed, gqlwire.CodeBadUserInput, "mutations must be sent with POST"})
		res.allow = http.MethodPost
		return res
	case op.typ == ast.OperationTypeSubscription && single && subscription.WantsSSE(r):
		return runResult{sse: true, label: label, op: op}
	case op.typ == ast.OperationTypeSubscription:
		// Served over WebSocket (graphql-transport-ws) or with Accept: text/event-stream.
		return fail(label, errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, "subscriptions are not served over a plain HTTP request"})
	}

	rw := resultWriterPool.Get().(*resultWriter)
	rw.out = out
	err = eng.run(ctx, op, req, rw)
	rw.out = nil
	resultWriterPool.Put(rw)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
		// Whatever the engine wrote is partial: subgraph fetches were cut.
		out.Reset()
		h.metrics.refusal(gqlwire.CodeTimeout)
		h.logger.Warn("graphql request timed out", "operation", label, "timeout", h.cfg.RequestTimeout.String())
		return fail(label, errorResponse{http.StatusGatewayTimeout, gqlwire.CodeTimeout,
			"the request did not complete within " + h.cfg.RequestTimeout.String()})
	}
	if err != nil {
		out.Reset()
		return runResult{status: h.executionError(out, r, err, gqlwire.CodeValidationFailed), label: label}
	}
	if b := out.Bytes(); bytes.HasPrefix(b, errorsPrefix) {
		if a := annotateFetchErrors(b); len(a) > 0 && &a[0] != &b[0] {
			out.Reset()
			out.Write(a)
		}
	}
	return runResult{status: http.StatusOK, label: label}
}

// checkOperation applies the limits and the introspection switch to a
// parsed operation, and the cost limit with the request's variables; nil
// when it may run. An operation that is not there (validation reports it)
// is not measured.
func (h *handler) checkOperation(op *operation, vars []byte) *errorResponse {
	if !op.found {
		return nil
	}
	e := h.cfg.Limits.check(op.stats, h.cfg.DisableIntrospection)
	if e == nil {
		e = h.cfg.Limits.checkCost(op.stats.cost, vars)
	}
	if e != nil {
		h.metrics.refusal(string(e.code))
	}
	return e
}

// acquireEngine returns the current engine with a reference taken for one
// request or subscription (release it when done), nil while the supergraph
// is not composed. An engine that a reload retired and released in between
// is skipped: the swap stored its successor first.
func (h *handler) acquireEngine() *executor {
	for {
		x := h.engine.Load()
		if x == nil || x.acquire() {
			return x
		}
	}
}

// currentEngine is the engine for operations over WebSocket (nil while the
// supergraph is not composed).
func (h *handler) currentEngine() subscription.Engine {
	if h.engine.Load() != nil {
		return wsEngine{h: h}
	}
	return nil
}

// wsEngine runs operations received over WebSocket with the same limits and
// introspection switch as over HTTP, on the engine current when the
// operation starts. Each is parsed once, for the checks and the run; a
// refusal reaches the client as an error message with its code
// (subscription.Refusal), and the connection stays open.
type wsEngine struct {
	h *handler
}

func (e wsEngine) Execute(ctx context.Context, req *graphql.Request, w resolve.SubscriptionResponseWriter) error {
	x := e.h.acquireEngine()
	if x == nil {
		return &subscription.Refusal{Code: string(gqlwire.CodeUnavailable), Message: "the router is starting: the supergraph is not composed yet"}
	}
	defer x.release()
	op, err := x.parse(req)
	if refused, ok := errors.AsType[*limitRefusal](err); ok {
		e.h.metrics.refusal(string(refused.code))
		return &subscription.Refusal{Code: string(refused.code), Message: refused.message}
	}
	if err != nil {
		return &subscription.ParseError{Err: err}
	}
	if r := e.h.checkOperation(op, req.Variables); r != nil {
		return &subscription.Refusal{Code: string(r.code), Message: r.message}
	}
	return x.run(ctx, op, req, w)
}

// parsedOperation runs an operation the handler has already parsed and
// checked (a subscription served over SSE) without parsing it again.
type parsedOperation struct {
	x  *executor
	op *operation
}

func (p parsedOperation) Execute(ctx context.Context, req *graphql.Request, w resolve.SubscriptionResponseWriter) error {
	return p.x.run(ctx, p.op, req, w)
}

// resultWriter is the engine's response writer over the handler's pooled
// output buffer. Requests answered over HTTP are written once and not
// flushed; the pool saves an allocation per request.
type resultWriter struct{ out *bytes.Buffer }

func (w *resultWriter) Write(p []byte) (int, error) { return w.out.Write(p) }
func (w *resultWriter) Flush() error                { return nil }
func (w *resultWriter) Complete()                   {}
func (w *resultWriter) Error([]byte)                {}
func (w *resultWriter) Heartbeat() error            { return nil }

var resultWriterPool = sync.Pool{New: func() any { return new(resultWriter) }}

// annotatingWriter gives subscription messages the same error codes as
// answers over HTTP (annotateFetchErrors). The engine writes errors first,
// so a message whose start is not the errors prefix goes straight through;
// one with errors is buffered until its Flush.
type annotatingWriter struct {
	w       resolve.SubscriptionResponseWriter
	buf     bytes.Buffer
	through bool // the message being written has no errors
}

func (a *annotatingWriter) Write(p []byte) (int, error) {
	if !a.through && a.buf.Len() == 0 && len(p) >= len(errorsPrefix) && !bytes.HasPrefix(p, errorsPrefix) {
		a.through = true
	}
	if a.through {
		return a.w.Write(p)
	}
	return a.buf.Write(p)
}

func (a *annotatingWriter) Flush() error {
	if a.through {
		a.through = false
		return a.w.Flush()
	}
	b := a.buf.Bytes()
	if bytes.HasPrefix(b, errorsPrefix) {
		b = annotateFetchErrors(b)
	}
	_, err := a.w.Write(b)
	a.buf.Reset()
	if err != nil {
		return err
	}
	return a.w.Flush()
}

func (a *annotatingWriter) Complete()        { a.w.Complete() }
func (a *annotatingWriter) Heartbeat() error { return a.w.Heartbeat() }

// Error is a whole message the engine hands over at once.
func (a *annotatingWriter) Error(data []byte) {
	if bytes.HasPrefix(data, errorsPrefix) {
		data = annotateFetchErrors(data)
	}
	a.w.Error(data)
}

// The engine writes errors first, so this prefix tells cheaply whether a
// response has any.
var errorsPrefix = []byte(`{"errors":[`)

// annotateFetchErrors gives the errors the engine itself writes when a
// subgraph cannot be reached or answers with an HTTP error the code
// UNAVAILABLE, so that every failure a client sees carries a code, and
// turns the engine's authorization code into UNAUTHENTICATED or FORBIDDEN
// (authz.go). Only responses with errors pay for the parse.
func annotateFetchErrors(body []byte) []byte {
	var p astjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return body
	}
	changed := false
	for _, e := range v.GetArray("errors") {
		if c := e.GetStringBytes("extensions", "code"); string(c) == errorcodes.UnauthorizedFieldOrType {
			e.Get("extensions").Set(nil, "code", astjson.StringValue(nil, string(authzCode(e.GetStringBytes("message")))))
			changed = true
			continue
		}
		if e.Exists("extensions", "code") || !isFetchFailure(e.GetStringBytes("message")) {
			continue
		}
		ext := e.Get("extensions")
		if ext == nil || ext.Type() != astjson.TypeObject {
			ext = astjson.ObjectValue(nil) // nil arena: on the heap, like the parsed body
			e.Set(nil, "extensions", ext)
		}
		ext.Set(nil, "code", astjson.StringValue(nil, string(gqlwire.CodeUnavailable)))
		changed = true
	}
	if !changed {
		return body
	}
	return v.MarshalTo(nil)
}

// isFetchFailure recognises the engine's own messages for failed subgraph
// fetches: "Failed to fetch from Subgraph 'users' ..." and "503: Service
// Unavailable" (an HTTP status without a GraphQL body).
func isFetchFailure(msg []byte) bool {
	if bytes.HasPrefix(msg, []byte("Failed to fetch from Subgraph")) {
		return true
	}
	return len(msg) > 5 && msg[3] == ':' && msg[4] == ' ' &&
		msg[0] >= '1' && msg[0] <= '5' && isDigit(msg[1]) && isDigit(msg[2])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// readGET fills req from the query string.
func readGET(r *http.Request, req *graphql.Request, pq *persistedQuery) *errorResponse {
	q := r.URL.Query()
	req.Query = q.Get("query")
	req.OperationName = q.Get("operationName")
	if v := q.Get("variables"); v != "" {
		req.Variables = json.RawMessage(v)
	}
	if ext := q.Get("extensions"); ext != "" {
		b := []byte(ext)
		if !json.Valid(b) {
			return &errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, "extensions is not valid JSON"}
		}
		var bad string
		jsonparser.EachKey(b, func(i int, v []byte, vt jsonparser.ValueType, err error) {
			if err == nil {
				bad = pq.set(i, v, vt)
			}
		}, extensionPaths...)
		if bad != "" {
			return &errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, bad}
		}
	}
	return nil
}

// readBody reads a POST body, bounded by the body limit; it is a JSON
// object or array.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, body *bytes.Buffer) ([]byte, *errorResponse) {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return nil, &errorResponse{http.StatusUnsupportedMediaType, gqlwire.CodeBadUserInput, "the request body must be application/json"}
	}
	if r.ContentLength > h.cfg.MaxRequestBytes {
		return nil, tooLarge(h.cfg.MaxRequestBytes)
	}
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxRequestBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(h.cfg.MaxRequestBytes)
		}
		return nil, &errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, "could not read the request body"}
	}
	data := bytes.TrimSpace(body.Bytes())
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		return nil, &errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, "the request body must be a JSON object"}
	}
	// json.Valid scans without allocating; EachKey then picks the keys in
	// one pass. Neither reflects on a struct.
	if !json.Valid(data) {
		return nil, &errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, "the request body is not valid JSON"}
	}
	return data, nil
}

// parseRequestObject fills req and pq from one JSON request object, as
// every transport reads one (gqlwire.ReadRequest).
func parseRequestObject(data []byte, req *graphql.Request, pq *persistedQuery) *errorResponse {
	if e := gqlwire.ReadRequest(data, req, pq.set); e != nil {
		return badRequest(e)
	}
	return nil
}

// set fills field i of extensions.persistedQuery: 0 version, 1 sha256Hash.
func (pq *persistedQuery) set(i int, v []byte, vt jsonparser.ValueType) string {
	pq.present = true
	switch i {
	case 0:
		n, err := jsonparser.ParseInt(v)
		if vt != jsonparser.Number || err != nil {
			return "extensions.persistedQuery.version must be a number"
		}
		pq.version = n
	case 1:
		s, err := jsonparser.ParseString(v)
		if vt != jsonparser.String || err != nil {
			return "extensions.persistedQuery.sha256Hash must be a string"
		}
		pq.hash = strings.ToLower(s)
	}
	return ""
}

// validateRequest applies the checks every transport makes before the
// operation is parsed (gqlwire.ValidateRequest).
func validateRequest(req *graphql.Request) *errorResponse {
	if e := gqlwire.ValidateRequest(req); e != nil {
		return badRequest(e)
	}
	return nil
}

// badRequest answers a refused request object: 400 BAD_USER_INPUT.
func badRequest(e *gqlwire.RequestError) *errorResponse {
	return &errorResponse{http.StatusBadRequest, gqlwire.CodeBadUserInput, e.Message}
}

// isJSONContentType accepts application/json with any parameters. The
// common spellings are compared without parsing (mime.ParseMediaType
// allocates a map per call).
func isJSONContentType(ct string) bool {
	switch ct {
	case "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8", "application/json; charset=UTF-8":
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func tooLarge(limit int64) *errorResponse {
	return &errorResponse{http.StatusRequestEntityTooLarge, gqlwire.CodeRequestTooLarge,
		"the request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

// executionError writes what the engine refused into out and returns the
// status: a document that does not parse or validate, or bad variables, is
// the client's error (gqlwire.ClientErrors, as on every transport) and is
// answered 200 with errors, as GraphQL over HTTP asks for application/json.
// Anything else is internal: logged, and shown without details.
func (h *handler) executionError(out *bytes.Buffer, r *http.Request, err error, defaultCode string) int {
	if errs := gqlwire.ClientErrors(err, defaultCode); errs != nil {
		appendErrors(out, errs)
		return http.StatusOK
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		appendErrors(out, []gqlwire.Error{gqlwire.Coded(string(gqlwire.CodeUnavailable), "request canceled")})
		return http.StatusServiceUnavailable
	}
	h.logger.Error("graphql execution failed", "err", err)
	appendErrors(out, gqlwire.Internal())
	return http.StatusInternalServerError
}

func (e errorResponse) gqlError() gqlwire.Error {
	return gqlwire.Coded(string(e.code), e.message)
}

func (h *handler) writeRequestError(w http.ResponseWriter, e errorResponse) {
	writeErrors(w, e.status, []gqlwire.Error{e.gqlError()})
}

// appendErrors and writeErrors are for the rare error paths only;
// successful responses are written by the engine straight into a pooled
// buffer.
func appendErrors(out *bytes.Buffer, errs []gqlwire.Error) {
	out.Write(gqlwire.Response(errs))
}

func writeErrors(w http.ResponseWriter, status int, errs []gqlwire.Error) {
	writeJSON(w, status, gqlwire.Response(errs))
}

// jsonContentType is shared by every response: assigning the slice
// directly saves the allocation Header.Set makes for each.
var jsonContentType = []string{"application/json; charset=utf-8"}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
