package gqlwire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/buger/jsonparser"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/graphqlerrors"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/variablesvalidation"
)

func TestReadAndValidateRequest(t *testing.T) {
	tests := []struct {
		name, data string
		withPQ     bool
		want       string // the refusal's message; empty: accepted
		query, op  string
		vars       string
		pq         []string // persistedQuery fields seen, as "field=value"
	}{
		{name: "full", data: `{"query":"{ a }","operationName":"A","variables":{"x":[1]}}`, query: "{ a }", op: "A", vars: `{"x":[1]}`},
		{name: "escaped query", data: `{"query":"{ a(s: \"\u00e9\") }"}`, query: `{ a(s: "é") }`},
		{name: "nulls", data: `{"query":"{ a }","operationName":null,"variables":null}`, query: "{ a }"},
		{name: "variables a list", data: `{"query":"{ a }","variables":[1]}`, want: "variables must be an object"},
		{name: "variables a string", data: `{"query":"{ a }","variables":"{}"}`, want: "variables must be an object"},
		{name: "query a number", data: `{"query":1}`, want: "query must be a string"},
		{name: "operationName an object", data: `{"query":"{ a }","operationName":{}}`, want: "operationName must be a string"},
		{name: "no query", data: `{"variables":{}}`, want: "query is required"},
		{name: "blank query", data: `{"query":" \t\n"}`, want: "query is required"},
		{name: "persisted query read", data: `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}},"query":"{ a }"}`, withPQ: true,
			query: "{ a }", pq: []string{"0=1", "1=abc"}},
		{name: "persisted query refused", data: `{"extensions":{"persistedQuery":{"version":"one"}},"query":"{ a }"}`, withPQ: true,
			want: "bad version", pq: []string{"0=one"}},
		{name: "persisted query not read without a receiver", data: `{"extensions":{"persistedQuery":{"version":"one"}},"query":"{ a }"}`, query: "{ a }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req graphql.Request
			var seen []string
			var pq PersistedQueryField
			if tt.withPQ {
				pq = func(field int, v []byte, vt jsonparser.ValueType) string {
					seen = append(seen, fmt.Sprintf("%d=%s", field, v))
					if field == 0 && vt != jsonparser.Number {
						return "bad version"
					}
					return ""
				}
			}
			e := ReadRequest([]byte(tt.data), &req, pq)
			if e == nil {
				e = ValidateRequest(&req)
			}
			got := ""
			if e != nil {
				got = e.Message
			}
			if got != tt.want {
				t.Fatalf("refusal %q, want %q", got, tt.want)
			}
			if fmt.Sprint(seen) != fmt.Sprint(tt.pq) {
				t.Errorf("persistedQuery fields %v, want %v", seen, tt.pq)
			}
			if tt.want != "" {
				return
			}
			if req.Query != tt.query || req.OperationName != tt.op || string(req.Variables) != tt.vars {
				t.Errorf("request %q %q %s, want %q %q %s", req.Query, req.OperationName, req.Variables, tt.query, tt.op, tt.vars)
			}
		})
	}
}

// GET requests carry variables as text: ValidateRequest checks them.
func TestValidateRequestVariablesText(t *testing.T) {
	tests := []struct {
		vars, want string
		cleared    bool
	}{
		{vars: `{"a":1}`},
		{vars: ` null `, cleared: true},
		{vars: `[1]`, want: "variables must be a JSON object"},
		{vars: `{"a":`, want: "variables must be a JSON object"},
		{vars: `   `, want: "variables must be a JSON object"},
	}
	for _, tt := range tests {
		req := graphql.Request{Query: "{ a }", Variables: json.RawMessage(tt.vars)}
		e := ValidateRequest(&req)
		got := ""
		if e != nil {
			got = e.Message
		}
		if got != tt.want || (tt.cleared && req.Variables != nil) {
			t.Errorf("variables %q: refusal %q (variables now %q), want %q", tt.vars, got, req.Variables, tt.want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	var report operationreport.Report
	report.AddExternalError(operationreport.ExternalError{Message: "bad field",
		Locations: []operationreport.Location{{Line: 2, Column: 3}, {Line: 0, Column: 0}}})
	report.AddExternalError(operationreport.ExternalError{Message: "bad argument"})
	var internalOnly operationreport.Report
	internalOnly.AddInternalError(errors.New("planner broke"))

	tests := []struct {
		name string
		err  error
		want string // JSON of the errors; "null": not the client's
	}{
		{"request errors take the default code", graphqlerrors.RequestErrors{{Message: "syntax",
			Locations: []operationreport.Location{{Line: 1, Column: 5}}}},
			`[{"message":"syntax","locations":[{"line":1,"column":5}],"extensions":{"code":"DEFAULT"}}]`},
		{"request errors keep their own code", graphqlerrors.RequestErrors{{Message: "x", Extensions: &graphqlerrors.Extensions{Code: "OWN"}}},
			`[{"message":"x","extensions":{"code":"OWN"}}]`},
		{"a report's external errors, unknown locations left out", report,
			`[{"message":"bad field","locations":[{"line":2,"column":3}],"extensions":{"code":"DEFAULT"}},{"message":"bad argument","extensions":{"code":"DEFAULT"}}]`},
		{"wrapped", fmt.Errorf("prepare: %w", graphqlerrors.RequestErrors{{Message: "w"}}),
			`[{"message":"w","extensions":{"code":"DEFAULT"}}]`},
		{"bad variables", &variablesvalidation.InvalidVariableError{Message: "Variable \"$id\" missing"},
			`[{"message":"Variable \"$id\" missing","extensions":{"code":"BAD_USER_INPUT"}}]`},
		{"bad variables with a code", &variablesvalidation.InvalidVariableError{Message: "m", ExtensionCode: "VAR_CODE"},
			`[{"message":"m","extensions":{"code":"VAR_CODE"}}]`},
		{"no request errors", graphqlerrors.RequestErrors{}, `null`},
		{"a report without external errors", internalOnly, `null`},
		{"canceled", context.Canceled, `null`},
		{"anything else", errors.New("boom"), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(ClientErrors(tt.err, "DEFAULT"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
	if b, _ := json.Marshal(Internal()); string(b) != `[{"message":"internal server error","extensions":{"code":"INTERNAL"}}]` {
		t.Errorf("Internal() = %s", b)
	}
}
