package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldhq/herald/internal/stream"
)

// Run returns promptly when it is stopped while subscribers are leaving:
// clients close their WebSocket connections and SSE streams at the moment
// the router's context ends, so the engine sees subscriptions end for both
// reasons at once. Every round starts a router with many live
// subscriptions (one stream trigger each), drops all their clients and
// stops the router at once; Run must return within the harness's bound
// (which otherwise prints every goroutine's stack).
func TestRunStopsWhileSubscribersLeave(t *testing.T) {
	const (
		rounds     = 4
		conns      = 4  // WebSocket connections per round
		perConn    = 40 // subscriptions per WebSocket connection
		sseStreams = 20
	)
	var open func(t *testing.T) stream.Broker
	for _, be := range subscriptionBackends {
		if be.name == "nats" {
			open = be.open
		}
	}
	broker := open(t)
	users, orders := newUsersFake(t), newOrderEntitiesFake(t)
	for round := range rounds {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			tr, srv, _ := startStatusRouter(t, broker, Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()})

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			sseCtx, leaveSSE := context.WithCancel(ctx)
			defer leaveSSE()
			var clients []*wsClient
			n := 0
			for range conns {
				ws := dialWS(t, ctx, tr.url)
				clients = append(clients, ws)
				for range perConn {
					// A filter of its own: one engine trigger per subscription.
					ws.subscribe(fmt.Sprint("s", n), statusQuery, map[string]any{"orderId": fmt.Sprint("o-", n)})
					n++
				}
			}
			for range sseStreams {
				sseSubscribe(t, sseCtx, http.MethodPost, tr.url, statusQuery, map[string]any{"orderId": fmt.Sprint("o-", n)})
				n++
			}
			waitWatchers(t, srv, n)

			for _, ws := range clients {
				ws.c.CloseNow()
			}
			leaveSSE()
			// Stop while the engine is removing them: once the first has
			// ended, the others are on their way.
			deadline := time.Now().Add(30 * time.Second)
			for srv.Stats().Active == int64(n) {
				if time.Now().After(deadline) {
					t.Fatal("no subscription ended within 30s of its client leaving")
				}
				runtime.Gosched()
			}
			tr.run.Stop(t)
		})
		if t.Failed() {
			return
		}
	}
}

// A router that stops says goodbye: WebSocket clients get a close frame
// 1001 (Going Away), SSE streams end with `complete`, so clients know to
// reconnect rather than treat it as a network failure.
func TestShutdownClosesSubscribersCleanly(t *testing.T) {
	broker := subscriptionBackends[1].open(t)
	tr, srv, _ := startStatusRouter(t, broker, Subgraph{Name: "orders", URL: newOrderEntitiesFake(t).URL()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ws, ack := dialWSAs(t, ctx, tr.url, `{}`)
	if ack.Type != "connection_ack" {
		t.Fatalf("connection_init: %+v", ack)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			var m wsTestMessage
			if err := ws.read(&m); err != nil {
				closed <- err
				return
			}
		}
	}()
	ws.write(wsTestMessage{ID: "s", Type: "subscribe", Payload: json.RawMessage(`{"query":` + strconv.Quote(statusQuery) + `}`)})
	sse := sseSubscribe(t, ctx, http.MethodPost, tr.url, statusQuery, map[string]any{"orderId": "o1"})
	waitWatchers(t, srv, 2)

	tr.run.Stop(t)
	select {
	case err := <-closed:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("WebSocket ended with %v, want close status 1001", err)
		}
	case <-ctx.Done():
		t.Fatal("WebSocket not closed")
	}
	var last sseEvent
	for ev := range sse {
		last = ev
	}
	if last.event != "complete" {
		t.Errorf("SSE stream ended after %q %q, want complete", last.event, last.data)
	}
}
