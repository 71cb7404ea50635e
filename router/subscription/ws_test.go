package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/heraldhq/herald/router/subscription/wstest"
)

// answerEngine answers every operation with one fixed result.
type answerEngine struct{ ran chan string }

func (e answerEngine) Execute(_ context.Context, req *graphql.Request, w resolve.SubscriptionResponseWriter) error {
	e.ran <- req.Query
	_, err := w.Write([]byte(`{"data":{"ok":true}}`))
	return err
}

func wsServer(t *testing.T, eng Engine, opts ...Option) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := NewServer(ctx, Config{}, nil, nil, opts...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeWS(w, r, func() Engine { return eng }, 1<<20)
	}))
	t.Cleanup(func() {
		cancel()
		srv.Close()
		s.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func wsDial(t *testing.T, ctx context.Context, url string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Protocol}, HTTPHeader: h})
}

func wsSend(t *testing.T, ctx context.Context, c *websocket.Conn, m wsMsg) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func wsRead(t *testing.T, ctx context.Context, c *websocket.Conn) wsMsg {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wsInit dials url and has the connection acknowledged.
func wsInit(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _, err := wsDial(t, ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	wsSend(t, ctx, c, wsMsg{Type: "connection_init"})
	if m := wsRead(t, ctx, c); m.Type != "connection_ack" {
		c.CloseNow()
		t.Fatalf("got %+v", m)
	}
	return c
}

// WithCheck refuses an operation before the engine sees it; the client gets
// an error message with the refusal's code, and the connection goes on.
func TestWithCheckRefusesBeforeExecution(t *testing.T) {
	eng := answerEngine{ran: make(chan string, 4)}
	url := wsServer(t, eng, WithCheck(func(_ context.Context, req *graphql.Request) error {
		switch {
		case strings.Contains(req.Query, "deep"):
			return &Refusal{Code: "QUERY_TOO_DEEP", Message: "too deep"}
		case strings.Contains(req.Query, "broken"):
			return errors.New("the check failed")
		}
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := wsInit(t, ctx, url)
	defer c.CloseNow()
	tests := []struct {
		id, query string
		want      []wsMsg
		ran       bool
	}{
		{"1", "{ deep }", []wsMsg{{ID: "1", Type: "error", Payload: json.RawMessage(`[{"message":"too deep","extensions":{"code":"QUERY_TOO_DEEP"}}]`)}}, false},
		{"2", "{ broken }", []wsMsg{{ID: "2", Type: "error", Payload: json.RawMessage(`[{"message":"internal server error","extensions":{"code":"INTERNAL"}}]`)}}, false},
		{"3", "{ fine }", []wsMsg{{ID: "3", Type: "next", Payload: json.RawMessage(`{"data":{"ok":true}}`)}, {ID: "3", Type: "complete"}}, true},
	}
	for _, tt := range tests {
		payload, _ := json.Marshal(map[string]string{"query": tt.query})
		wsSend(t, ctx, c, wsMsg{ID: tt.id, Type: "subscribe", Payload: payload})
		for _, w := range tt.want {
			got := wsRead(t, ctx, c)
			if got.ID != w.ID || got.Type != w.Type || string(got.Payload) != string(w.Payload) {
				t.Errorf("%s: got %s %s %s, want %s %s %s", tt.query, got.ID, got.Type, got.Payload, w.ID, w.Type, w.Payload)
			}
		}
		select {
		case q := <-eng.ran:
			if !tt.ran || q != tt.query {
				t.Errorf("the engine ran %q", q)
			}
		default:
			if tt.ran {
				t.Errorf("%s: the engine did not run it", tt.query)
			}
		}
	}
}

// WithOriginPatterns admits the listed cross-origin pages; others are
// refused by the upgrade (403), same-origin and Origin-less clients always
// pass.
func TestWithOriginPatterns(t *testing.T) {
	eng := answerEngine{ran: make(chan string, 1)}
	listed := wsServer(t, eng, WithOriginPatterns("https://app.example.com"))
	closed := wsServer(t, eng)
	tests := []struct {
		name, url, origin string
		ok                bool
	}{
		{"listed origin", listed, "https://app.example.com", true},
		{"listed host, other scheme", listed, "http://app.example.com", false},
		{"other origin", listed, "https://evil.example.com", false},
		{"no origin", closed, "", true},
		{"cross origin, none listed", closed, "https://app.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wstest.CheckOrigin(t, tt.url, Protocol, tt.origin, tt.ok)
		})
	}
}

// A subscribe payload is a request object like an HTTP POST body and passes
// the same checks: a refused one gets an error message with BAD_USER_INPUT
// and the message HTTP answers, the engine and the check never see it, and
// the connection stays open. A payload that is not an object at all breaks
// the protocol and closes the connection with 4400.
func TestSubscribePayloadIsValidated(t *testing.T) {
	eng := answerEngine{ran: make(chan string, 16)}
	checked := make(chan string, 16)
	url := wsServer(t, eng, WithCheck(func(_ context.Context, req *graphql.Request) error {
		checked <- req.Query
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := wsInit(t, ctx, url)
	defer c.CloseNow()
	refused := func(msg string) string {
		return `[{"message":"` + msg + `","extensions":{"code":"BAD_USER_INPUT"}}]`
	}
	tests := []struct {
		name, payload string
		want          string // the error payload; empty: the operation runs
	}{
		{"variables a list", `{"query":"{ fine }","variables":[1]}`, refused("variables must be an object")},
		{"variables a string", `{"query":"{ fine }","variables":"{}"}`, refused("variables must be an object")},
		{"variables a number", `{"query":"{ fine }","variables":5}`, refused("variables must be an object")},
		{"empty query", `{"query":""}`, refused("query is required")},
		{"blank query", `{"query":" \n\t "}`, refused("query is required")},
		{"no query", `{"variables":{"a":1}}`, refused("query is required")},
		{"null query", `{"query":null}`, refused("query is required")},
		{"query not a string", `{"query":5}`, refused("query must be a string")},
		{"operationName not a string", `{"query":"{ fine }","operationName":["x"]}`, refused("operationName must be a string")},
		{"variables null", `{"query":"{ fine }","variables":null}`, ""},
		{"variables an object", `{"query":"{ fine }","variables":{"a":[1]},"operationName":null}`, ""},
		{"persisted query extensions are not read", `{"query":"{ fine }","extensions":{"persistedQuery":{"version":"x"}}}`, ""},
	}
	for i, tt := range tests {
		id := strconv.Itoa(i)
		wsSend(t, ctx, c, wsMsg{ID: id, Type: "subscribe", Payload: json.RawMessage(tt.payload)})
		got := wsRead(t, ctx, c)
		if tt.want != "" {
			if got.ID != id || got.Type != "error" || string(got.Payload) != tt.want {
				t.Errorf("%s: got %s %s %s, want error %s", tt.name, got.ID, got.Type, got.Payload, tt.want)
			}
			select {
			case q := <-eng.ran:
				t.Errorf("%s: the engine ran %q", tt.name, q)
			case q := <-checked:
				t.Errorf("%s: the check saw %q", tt.name, q)
			default:
			}
			continue
		}
		if got.ID != id || got.Type != "next" || string(got.Payload) != `{"data":{"ok":true}}` {
			t.Errorf("%s: got %s %s %s, want next", tt.name, got.ID, got.Type, got.Payload)
		}
		if got := wsRead(t, ctx, c); got.Type != "complete" {
			t.Errorf("%s: got %s %s, want complete", tt.name, got.Type, got.Payload)
		}
		if q := <-eng.ran; q != "{ fine }" {
			t.Errorf("%s: the engine ran %q", tt.name, q)
		}
		<-checked
	}

	for _, payload := range []string{"", `null`, `[{"query":"{ fine }"}]`, `"{ fine }"`} {
		c := wsInit(t, ctx, url)
		wsSend(t, ctx, c, wsMsg{ID: "1", Type: "subscribe", Payload: json.RawMessage(payload)})
		_, _, err := c.Read(ctx)
		if websocket.CloseStatus(err) != closeBadRequest {
			t.Errorf("payload %s: read %v, want close %d", payload, err, closeBadRequest)
		}
		c.CloseNow()
	}
}
