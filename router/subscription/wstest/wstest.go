// Package wstest has test helpers for the subscription server's WebSocket
// endpoint, shared by the subscription package's tests and the router's.
package wstest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// CheckOrigin opens a WebSocket to url (ws://…) speaking protocol, with
// the Origin header origin ("" sends none), and fails t unless the upgrade
// is admitted when ok, or refused with 403 when not.
func CheckOrigin(t *testing.T, url, protocol, origin string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{protocol}, HTTPHeader: h})
	if ok {
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.CloseNow()
		return
	}
	if err == nil {
		c.CloseNow()
		t.Fatal("dial succeeded, want it refused")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("refusal = %v, want 403", resp)
	}
}
