// Package gqlwire is what every client transport of the router (GraphQL over
// HTTP, SSE and graphql-transport-ws) shares about GraphQL's wire format:
// reading and checking a request object, and turning what the engine refused
// into GraphQL errors with extensions.code. There is one implementation of
// each, so the transports cannot drift apart.
package gqlwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/buger/jsonparser"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/graphqlerrors"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/variablesvalidation"

	"github.com/heraldhq/herald/internal/apperr"
)

// Location is a position in the client's operation.
type Location struct {
	Line   uint32 `json:"line"`
	Column uint32 `json:"column"`
}

// Error is one GraphQL error as clients receive it.
type Error struct {
	Message    string         `json:"message"`
	Locations  []Location     `json:"locations,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Coded is an error with code in extensions.code.
func Coded(code, message string) Error {
	return Error{Message: message, Extensions: map[string]any{"code": code}}
}

// RequestError refuses a request object before its operation is parsed.
// Its code is always BAD_USER_INPUT.
type RequestError struct {
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// requestPaths are the keys of a request object, looked up in one pass
// without reflection; the persistedQuery ones are read only when asked for.
var requestPaths = [][]string{{"query"}, {"operationName"}, {"variables"},
	{"extensions", "persistedQuery", "version"}, {"extensions", "persistedQuery", "sha256Hash"}}

// PersistedQueryField receives a field of extensions.persistedQuery (0
// version, 1 sha256Hash) with its JSON type, and returns a problem that
// refuses the request, or "".
type PersistedQueryField func(field int, v []byte, vt jsonparser.ValueType) string

// ReadRequest fills req from one JSON request object (data must be valid
// JSON, an object): a POST body, an element of a batch, or the payload of a
// graphql-transport-ws subscribe message. query and operationName must be
// strings or null, variables an object or null. pq, when not nil, receives
// extensions.persistedQuery; without it those keys are not read.
// req.Variables aliases data.
//
// A request read here must still pass ValidateRequest (once a persisted
// query is resolved).
func ReadRequest(data []byte, req *graphql.Request, pq PersistedQueryField) *RequestError {
	paths := requestPaths
	if pq == nil {
		paths = paths[:3]
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
				req.Variables = v
			} else if vt != jsonparser.Null {
				bad = "variables must be an object"
			}
		default:
			if b := pq(i-3, v, vt); b != "" {
				bad = b
			}
		}
	}, paths...)
	if bad != "" {
		return &RequestError{Message: bad}
	}
	return nil
}

// ValidateRequest checks what every transport requires of a request before
// its operation is parsed: a query that is not blank, and variables that
// are a JSON object or null (null is cleared). ReadRequest has already
// checked the variables' type of a request object; a GET request's
// variables come as text and are checked here.
func ValidateRequest(req *graphql.Request) *RequestError {
	if strings.TrimSpace(req.Query) == "" {
		return &RequestError{Message: "query is required"}
	}
	if len(req.Variables) > 0 {
		v := bytes.TrimSpace(req.Variables)
		if string(v) == "null" {
			req.Variables = nil
		} else if len(v) == 0 || v[0] != '{' || !json.Valid(v) {
			return &RequestError{Message: "variables must be a JSON object"}
		}
	}
	return nil
}

// ClientErrors maps what the engine refused before running an operation to
// client errors with codes: a document that does not parse or validate
// (graphqlerrors.RequestErrors, or an operationreport.Report with external
// errors), whose errors take defaultCode unless they carry a code of their
// own, and bad variables (*variablesvalidation.InvalidVariableError,
// BAD_USER_INPUT unless it names a code). Paths of parse and validation
// errors point into the operation's syntax tree, not into a response, so
// they are left out; zero locations mean "unknown" and are left out too.
//
// It returns nil for any other error: that is not the client's, and the
// transport decides what to answer (a canceled request, or an internal
// error that is logged and shown without details; see Internal).
func ClientErrors(err error, defaultCode string) []Error {
	var (
		gqlErrs graphqlerrors.RequestErrors
		report  operationreport.Report
		varErr  *variablesvalidation.InvalidVariableError
	)
	switch {
	case errors.As(err, &gqlErrs) && len(gqlErrs) > 0:
	case errors.As(err, &report) && len(report.ExternalErrors) > 0:
		gqlErrs = graphqlerrors.RequestErrorsFromOperationReport(report)
	case errors.As(err, &varErr):
		code := varErr.ExtensionCode
		if code == "" {
			code = string(apperr.BadUserInput)
		}
		return []Error{Coded(code, varErr.Message)}
	default:
		return nil
	}
	out := make([]Error, len(gqlErrs))
	for i, e := range gqlErrs {
		code := defaultCode
		if e.Extensions != nil && e.Extensions.Code != "" {
			code = e.Extensions.Code
		}
		out[i] = Coded(code, e.Message)
		for _, l := range e.Locations {
			if l.Line > 0 {
				out[i].Locations = append(out[i].Locations, Location{Line: l.Line, Column: l.Column})
			}
		}
	}
	return out
}

// Internal is what a client sees of an error that is not its own.
func Internal() []Error {
	return []Error{Coded(string(apperr.Internal), "internal server error")}
}

// Code is the error's extensions.code ("" without one).
func (e Error) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// Response is the GraphQL response {"errors":[…]} carrying errs: the one
// way every transport writes errors the router itself raises (successful
// answers are written by the engine).
func Response(errs []Error) []byte {
	b, err := json.Marshal(struct {
		Errors []Error `json:"errors"`
	}{errs})
	if err != nil {
		// Only strings and string-keyed maps of strings are in an Error.
		panic("gqlwire: " + err.Error())
	}
	return b
}
