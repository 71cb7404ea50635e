package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requestCheckRouter serves users, orders and the built-in notifications
// subgraph (without a broker: notificationStatus answers UNAVAILABLE once it
// runs, which is enough to tell a request that passed the checks).
func requestCheckRouter(t *testing.T) *testRouter {
	t.Helper()
	tr := startRouter(t, testConfig(Subgraph{Name: "users", URL: newUsersFake(t).URL()},
		Subgraph{Name: "orders", URL: newOrdersFake(t).URL()}, builtinNotifications()))
	tr.waitReady(t)
	return tr
}

// subscribeRaw sends a subscribe message with payload as it is.
func (cl *wsClient) subscribeRaw(id string, payload string) <-chan wsTestMessage {
	ch := make(chan wsTestMessage, 16)
	cl.mu.Lock()
	cl.subs[id] = ch
	cl.mu.Unlock()
	cl.write(wsTestMessage{ID: id, Type: "subscribe", Payload: json.RawMessage(payload)})
	return ch
}

// sseRequest sends a request asking for text/event-stream: POST with body,
// or GET with the query string body.
func sseRequest(t *testing.T, method, base, body string) httpResult {
	t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodGet {
		req, err = http.NewRequest(method, base+"/graphql?"+body, nil)
	} else {
		req, err = http.NewRequest(method, base+"/graphql", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	return do(t, req)
}

const checkSubscription = `subscription { notificationStatus(orderId: \"o1\") { status } }`

// A request object is checked the same way on every transport: over HTTP
// (POST and GET), SSE (POST and GET) and graphql-transport-ws a blank query
// or variables that are not an object is refused with the same
// BAD_USER_INPUT error, before the operation is parsed. HTTP and SSE answer
// 400 with the same body; over WebSocket the error message carries the
// same errors and the connection stays open.
func TestRequestChecksAreTheSameOnEveryTransport(t *testing.T) {
	tr := requestCheckRouter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws := dialWS(t, ctx, tr.url)

	refused := func(msg string) string {
		return `[{"message":"` + msg + `","extensions":{"code":"BAD_USER_INPUT"}}]`
	}
	tests := []struct {
		name string
		body string // a POST body and subscribe payload
		want string // the errors of the refusal
	}{
		{"variables a list", `{"query":"` + checkSubscription + `","variables":[1]}`, refused("variables must be an object")},
		{"variables a string", `{"query":"` + checkSubscription + `","variables":"{\"orderId\":\"o1\"}"}`, refused("variables must be an object")},
		{"variables false", `{"query":"` + checkSubscription + `","variables":false}`, refused("variables must be an object")},
		{"empty query", `{"query":"","variables":{}}`, refused("query is required")},
		{"blank query", `{"query":"  \n "}`, refused("query is required")},
		{"no query", `{"variables":{"orderId":"o1"}}`, refused("query is required")},
		{"query not a string", `{"query":{"q":1}}`, refused("query must be a string")},
		{"operationName not a string", `{"query":"` + checkSubscription + `","operationName":7}`, refused("operationName must be a string")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantBody := `{"errors":` + tt.want + `}`
			if r := postJSON(t, tr.url+"/graphql", tt.body); r.status != http.StatusBadRequest || r.body != wantBody {
				t.Errorf("HTTP: %d %s, want 400 %s", r.status, r.body, wantBody)
			}
			r := sseRequest(t, http.MethodPost, tr.url, tt.body)
			if r.status != http.StatusBadRequest || r.body != wantBody || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("SSE: %d %s %s, want 400 %s", r.status, r.header.Get("Content-Type"), r.body, wantBody)
			}
			m := nextWS(t, ctx, ws.subscribeRaw(strconv.Itoa(i), tt.body))
			if m.Type != "error" || string(m.Payload) != tt.want {
				t.Errorf("WebSocket: %s %s, want error %s", m.Type, m.Payload, tt.want)
			}
		})
	}

	// GET carries variables as text: the same check, with its own wording,
	// for plain and SSE requests alike.
	getTests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"variables a list", url.Values{"query": {`subscription { notificationStatus(orderId: "o1") { status } }`}, "variables": {"[1]"}}, refused("variables must be a JSON object")},
		{"variables not JSON", url.Values{"query": {`subscription { notificationStatus(orderId: "o1") { status } }`}, "variables": {"{orderId"}}, refused("variables must be a JSON object")},
		{"blank query", url.Values{"query": {"  "}}, refused("query is required")},
	}
	for _, tt := range getTests {
		t.Run("GET "+tt.name, func(t *testing.T) {
			wantBody := `{"errors":` + tt.want + `}`
			req, err := http.NewRequest(http.MethodGet, tr.url+"/graphql?"+tt.query.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := do(t, req); r.status != http.StatusBadRequest || r.body != wantBody {
				t.Errorf("HTTP: %d %s, want 400 %s", r.status, r.body, wantBody)
			}
			if r := sseRequest(t, http.MethodGet, tr.url, tt.query.Encode()); r.status != http.StatusBadRequest || r.body != wantBody {
				t.Errorf("SSE: %d %s, want 400 %s", r.status, r.body, wantBody)
			}
		})
	}

	// What passes the checks runs, on every transport: null variables are
	// no variables.
	t.Run("null variables", func(t *testing.T) {
		query := `{"query":"{ user(id: \"u1\") { name } }","variables":null}`
		const want = `{"data":{"user":{"name":"Ada Lovelace"}}}`
		if r := postJSON(t, tr.url+"/graphql", query); r.status != http.StatusOK || r.body != want {
			t.Errorf("HTTP: %d %s, want 200 %s", r.status, r.body, want)
		}
		if m := nextWS(t, ctx, ws.subscribeRaw("null", query)); m.Type != "next" || string(m.Payload) != want {
			t.Errorf("WebSocket: %s %s, want next %s", m.Type, m.Payload, want)
		}
		// The subscription passes the checks and starts: without a
		// broker its first result is UNAVAILABLE.
		const unavailable = `{"errors":[{"message":"live notification status is not available on this router (no stream configured)","extensions":{"code":"UNAVAILABLE"}}]}`
		sub := `{"query":"` + checkSubscription + `","variables":null}`
		if m := nextWS(t, ctx, ws.subscribeRaw("null-sub", sub)); m.Type != "next" || string(m.Payload) != unavailable {
			t.Errorf("WebSocket subscription: %s %s, want next %s", m.Type, m.Payload, unavailable)
		}
		// sseSubscribe sends "variables":null when given none, and
		// requires a 200 event stream.
		events := sseSubscribe(t, ctx, http.MethodPost, tr.url, strings.ReplaceAll(checkSubscription, `\"`, `"`), nil)
		select {
		case ev := <-events:
			if ev.event != "next" || ev.data != unavailable {
				t.Errorf("SSE: event %q %s, want next %s", ev.event, ev.data, unavailable)
			}
		case <-ctx.Done():
			t.Fatal("SSE: no event")
		}
	})
}

// What the engine refuses before running an operation (validation, bad
// variables) reaches clients as the same errors over HTTP, SSE and
// graphql-transport-ws: every transport maps it with gqlwire.ClientErrors.
func TestEngineRefusalsAreTheSameOnEveryTransport(t *testing.T) {
	tr := requestCheckRouter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws := dialWS(t, ctx, tr.url)
	tests := []struct {
		name, body, want string
	}{
		{"validation error", `{"query":"{ user(id: \"u1\") { password } }"}`,
			`[{"message":"Cannot query field \"password\" on type \"User\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]`},
		{"parse error", `{"query":"{ user(id: "}`,
			`[{"message":"unexpected token - got: EOF want one of: []","extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]`},
		{"unknown argument, with its location", `{"query":"{\n  user(id: \"u1\", nope: 1) { name }\n}"}`, ""},
		{"missing variable", `{"query":"query($id: ID!) { user(id: $id) { name } }","variables":{}}`,
			`[{"message":"Variable \"$id\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]`},
		{"missing variable, no variables at all", `{"query":"query($id: ID!) { user(id: $id) { name } }"}`,
			`[{"message":"Variable \"$id\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]`},
		{"variable of the wrong type", `{"query":"query($id: ID!) { user(id: $id) { name } }","variables":{"id":{"a":1}}}`, ""},
		// Subscriptions run over SSE: its first event carries the errors.
		{"SSE: subscription variable missing", `{"query":"subscription($o: ID!) { notificationStatus(orderId: $o) { status } }","variables":{}}`,
			`[{"message":"Variable \"$o\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]`},
		{"SSE: subscription variables left out", `{"query":"subscription($o: ID!) { notificationStatus(orderId: $o) { status } }"}`,
			`[{"message":"Variable \"$o\" of required type \"ID!\" was not provided.","extensions":{"code":"BAD_USER_INPUT"}}]`},
		{"SSE: subscription validation error", `{"query":"subscription { notificationStatus(orderId: 5) { nope } }"}`, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postJSON(t, tr.url+"/graphql", tt.body)
			if strings.HasPrefix(tt.name, "SSE: ") {
				r = sseRequest(t, http.MethodPost, tr.url, tt.body)
				data, ok := strings.CutPrefix(strings.TrimPrefix(r.body, ":\n\n"), "event: next\ndata: ")
				if !ok || !strings.HasSuffix(data, "\n\nevent: complete\ndata:\n\n") {
					t.Fatalf("SSE: %d %q, want one next event and complete", r.status, r.body)
				}
				r.body = strings.TrimSuffix(data, "\n\nevent: complete\ndata:\n\n")
			}
			var httpErrs struct {
				Errors json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal([]byte(r.body), &httpErrs); err != nil || len(httpErrs.Errors) == 0 {
				t.Fatalf("HTTP: %d %s, want errors", r.status, r.body)
			}
			if tt.want != "" && string(httpErrs.Errors) != tt.want {
				t.Errorf("HTTP errors %s, want %s", httpErrs.Errors, tt.want)
			}
			if !strings.Contains(string(httpErrs.Errors), `"code":"`) {
				t.Errorf("HTTP errors without a code: %s", httpErrs.Errors)
			}
			m := nextWS(t, ctx, ws.subscribeRaw("e"+strconv.Itoa(i), tt.body))
			if m.Type != "error" || string(m.Payload) != string(httpErrs.Errors) {
				t.Errorf("WebSocket: %s %s, want error %s", m.Type, m.Payload, httpErrs.Errors)
			}
		})
	}
}
