package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
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
	c, _, err := wsDial(t, ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	wsSend(t, ctx, c, wsMsg{Type: "connection_init"})
	if m := wsRead(t, ctx, c); m.Type != "connection_ack" {
		t.Fatalf("got %+v", m)
	}
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, resp, err := wsDial(t, ctx, tt.url, h)
			if tt.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.CloseNow()
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("dial succeeded, want a refusal")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("refusal = %v, want 403", resp)
			}
		})
	}
}
