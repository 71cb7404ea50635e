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

	"github.com/buger/jsonparser"
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/graphqlerrors"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/variablesvalidation"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/router/playground"
	"github.com/heraldhq/herald/router/subscription"
)

// handler serves GraphQL over HTTP, the playground and /healthz. The engine
// is swapped in atomically once the supergraph is composed, so the server can
// listen (and answer health checks) while subgraphs are still starting.
type handler struct {
	logger  *slog.Logger
	maxBody int64
	engine  atomic.Pointer[engine.ExecutionEngine]
	mux     *http.ServeMux
	subs    *subscription.Server
}

func newHandler(logger *slog.Logger, maxBody int64, subs *subscription.Server) *handler {
	h := &handler{logger: logger, maxBody: maxBody, mux: http.NewServeMux(), subs: subs}
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
			if !hub.Started() {
				return nil // the graph has no notifications subgraph
			}
			return errors.New("notification status stream not positioned yet")
		}
	}
	h.mux.HandleFunc("POST /graphql", h.serveGraphQL)
	h.mux.HandleFunc("GET /graphql", h.serveGraphQL)
	h.mux.HandleFunc("GET /{$}", playground.Index)
	h.mux.HandleFunc("GET "+playground.Prefix, playground.Assets)
	h.mux.Handle("GET /healthz", httpserver.Health(checks))
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

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

// Request body keys, looked up in one pass without reflection.
var requestPaths = [][]string{{"query"}, {"operationName"}, {"variables"}}

// errorResponse is a request-level failure, reported before execution.
type errorResponse struct {
	status  int
	code    apperr.Code
	message string
}

func (h *handler) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && subscription.IsWebSocket(r) {
		h.subs.ServeWS(w, r, h.engine.Load, h.maxBody)
		return
	}
	// A browser opening /graphql gets the playground rather than an error.
	if r.Method == http.MethodGet && !r.URL.Query().Has("query") && acceptsHTML(r) {
		playground.Index(w, r)
		return
	}
	eng := h.engine.Load()
	if eng == nil {
		h.writeRequestError(w, errorResponse{http.StatusServiceUnavailable, apperr.Unavailable, "the router is starting: the supergraph is not composed yet"})
		return
	}

	body := getBuffer()
	defer putBuffer(body)
	var req graphql.Request
	if e := h.readRequest(w, r, body, &req); e != nil {
		h.writeRequestError(w, *e)
		return
	}
	req.SetHeader(r.Header)

	opType, err := req.OperationType()
	if err != nil {
		h.writeExecutionError(w, r, err, codeParseFailed)
		return
	}
	switch {
	case opType == graphql.OperationTypeMutation && r.Method == http.MethodGet:
		// GET must stay safe: caches and prefetchers may repeat it.
		w.Header().Set("Allow", http.MethodPost)
		h.writeRequestError(w, errorResponse{http.StatusMethodNotAllowed, apperr.BadUserInput, "mutations must be sent with POST"})
		return
	case opType == graphql.OperationTypeSubscription && subscription.WantsSSE(r):
		h.subs.ServeSSE(w, r, eng, &req)
		return
	case opType == graphql.OperationTypeSubscription:
		// Served over WebSocket (graphql-transport-ws) or with Accept: text/event-stream.
		h.writeRequestError(w, errorResponse{http.StatusBadRequest, apperr.BadUserInput, "subscriptions are not served over a plain HTTP request"})
		return
	}

	out := getBuffer()
	defer putBuffer(out)
	rw := graphql.NewEngineResultWriterFromBuffer(out)
	if err := eng.Execute(r.Context(), &req, &rw); err != nil {
		out.Reset()
		h.writeExecutionError(w, r, err, codeValidationFailed)
		return
	}
	resp := out.Bytes()
	if bytes.HasPrefix(resp, errorsPrefix) {
		resp = annotateFetchErrors(resp)
	}
	writeJSON(w, http.StatusOK, resp)
}

// The engine writes errors first, so this prefix tells cheaply whether a
// response has any.
var errorsPrefix = []byte(`{"errors":[`)

// annotateFetchErrors gives the errors the engine itself writes when a
// subgraph cannot be reached or answers with an HTTP error the code
// UNAVAILABLE, so that every failure a client sees carries a code. Only
// responses with errors pay for the parse.
func annotateFetchErrors(body []byte) []byte {
	var p astjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return body
	}
	var arena astjson.Arena
	changed := false
	for _, e := range v.GetArray("errors") {
		if e.Exists("extensions", "code") || !isFetchFailure(e.GetStringBytes("message")) {
			continue
		}
		ext := e.Get("extensions")
		if ext == nil || ext.Type() != astjson.TypeObject {
			ext = arena.NewObject()
			e.Set("extensions", ext)
		}
		ext.Set("code", arena.NewString(string(apperr.Unavailable)))
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

// readRequest fills req from the query string (GET) or a JSON body (POST).
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request, body *bytes.Buffer, req *graphql.Request) *errorResponse {
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		req.Query = q.Get("query")
		req.OperationName = q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			req.Variables = json.RawMessage(v)
		}
		return validateRequest(req)
	}

	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &errorResponse{http.StatusUnsupportedMediaType, apperr.BadUserInput, "the request body must be application/json"}
	}
	if r.ContentLength > h.maxBody {
		return tooLarge(h.maxBody)
	}
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(h.maxBody)
		}
		return &errorResponse{http.StatusBadRequest, apperr.BadUserInput, "could not read the request body"}
	}
	data := bytes.TrimSpace(body.Bytes())
	if len(data) == 0 || data[0] != '{' {
		return &errorResponse{http.StatusBadRequest, apperr.BadUserInput, "the request body must be a JSON object"}
	}
	// json.Valid scans without allocating; EachKey then picks the three keys
	// in one pass. Neither reflects on a struct.
	if !json.Valid(data) {
		return &errorResponse{http.StatusBadRequest, apperr.BadUserInput, "the request body is not valid JSON"}
	}
	var bad string
	jsonparser.EachKey(data, func(i int, v []byte, vt jsonparser.ValueType, err error) {
		if err != nil {
			bad = "the request body is not valid JSON"
			return
		}
		switch i {
		case 0, 1:
			if vt == jsonparser.Null {
				return
			}
			if vt != jsonparser.String {
				bad = requestPaths[i][0] + " must be a string"
				return
			}
			s, err := jsonparser.ParseString(v)
			if err != nil {
				bad = requestPaths[i][0] + " is not a valid JSON string"
				return
			}
			if i == 0 {
				req.Query = s
			} else {
				req.OperationName = s
			}
		case 2:
			if vt == jsonparser.Object {
				req.Variables = v // aliases body, which outlives the execution
			} else if vt != jsonparser.Null {
				bad = "variables must be an object"
			}
		}
	}, requestPaths...)
	if bad != "" {
		return &errorResponse{http.StatusBadRequest, apperr.BadUserInput, bad}
	}
	return validateRequest(req)
}

func validateRequest(req *graphql.Request) *errorResponse {
	if strings.TrimSpace(req.Query) == "" {
		return &errorResponse{http.StatusBadRequest, apperr.BadUserInput, "query is required"}
	}
	if len(req.Variables) > 0 {
		v := bytes.TrimSpace(req.Variables)
		if string(v) == "null" {
			req.Variables = nil
		} else if len(v) == 0 || v[0] != '{' || !json.Valid(v) {
			return &errorResponse{http.StatusBadRequest, apperr.BadUserInput, "variables must be a JSON object"}
		}
	}
	return nil
}

func tooLarge(limit int64) *errorResponse {
	return &errorResponse{http.StatusRequestEntityTooLarge, apperr.BadUserInput,
		"the request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

// Codes of errors found before execution, as most GraphQL clients know them.
const (
	codeParseFailed      = "GRAPHQL_PARSE_FAILED"
	codeValidationFailed = "GRAPHQL_VALIDATION_FAILED"
)

// writeExecutionError reports what the engine refused: a document that does
// not parse or validate, or bad variables, is the client's error and is
// answered 200 with errors, as GraphQL over HTTP asks for application/json.
// Anything else is internal: logged, and shown without details.
func (h *handler) writeExecutionError(w http.ResponseWriter, r *http.Request, err error, defaultCode string) {
	var (
		gqlErrs graphqlerrors.RequestErrors
		report  operationreport.Report
		varErr  *variablesvalidation.InvalidVariableError
	)
	switch {
	case errors.As(err, &gqlErrs) && len(gqlErrs) > 0:
		writeRequestErrors(w, gqlErrs, defaultCode)
		return
	case errors.As(err, &report) && len(report.ExternalErrors) > 0:
		writeRequestErrors(w, graphqlerrors.RequestErrorsFromOperationReport(report), defaultCode)
		return
	case errors.As(err, &varErr):
		code := varErr.ExtensionCode
		if code == "" {
			code = string(apperr.BadUserInput)
		}
		writeErrors(w, http.StatusOK, []gqlError{{Message: varErr.Message, Extensions: map[string]any{"code": code}}})
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		return
	}
	h.logger.Error("graphql execution failed", "err", err)
	writeErrors(w, http.StatusInternalServerError, []gqlError{{Message: "internal server error", Extensions: map[string]any{"code": string(apperr.Internal)}}})
}

// writeRequestErrors answers parse and validation errors with a code. The
// engine's paths there point into the operation's syntax tree, not into a
// response, so they are left out; zero locations mean "unknown".
func writeRequestErrors(w http.ResponseWriter, errs graphqlerrors.RequestErrors, defaultCode string) {
	out := make([]gqlError, len(errs))
	for i, e := range errs {
		code := defaultCode
		if e.Extensions != nil && e.Extensions.Code != "" {
			code = e.Extensions.Code
		}
		out[i] = gqlError{Message: e.Message, Extensions: map[string]any{"code": code}}
		for _, l := range e.Locations {
			if l.Line > 0 {
				out[i].Locations = append(out[i].Locations, location{Line: l.Line, Column: l.Column})
			}
		}
	}
	writeErrors(w, http.StatusOK, out)
}

func (h *handler) writeRequestError(w http.ResponseWriter, e errorResponse) {
	writeErrors(w, e.status, []gqlError{{Message: e.message, Extensions: map[string]any{"code": string(e.code)}}})
}

type location struct {
	Line   uint32 `json:"line"`
	Column uint32 `json:"column"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Locations  []location     `json:"locations,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// writeErrors is for the rare error paths only; successful responses are
// written by the engine straight into a pooled buffer.
func writeErrors(w http.ResponseWriter, status int, errs []gqlError) {
	b, _ := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{errs})
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
