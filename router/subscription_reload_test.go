package router

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/router/subscription"
)

// A subscription keeps running on the engine it started on when a reload
// installs a new one; new subscriptions start on the new engine (with a
// trigger, and a stream watcher, of their own); when the last subscription
// on the old engine ends, its watcher goes with it.
func TestSubscriptionOutlivesReload(t *testing.T) {
	broker := subscriptionBackends[1].open(t) // NATS: the behaviour is the router's, not the backend's
	topic := uniqueTopic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	users, orders := newUsersFake(t), newOrderEntitiesFake(t)
	sgs := []Subgraph{{Name: "users", URL: users.URL()}, {Name: "orders", URL: orders.URL()}, builtinNotifications()}
	withSDL := []Subgraph{sgs[0], sgs[1], sgs[2]}
	withSDL[0].SDL, withSDL[1].SDL, withSDL[2].SDL = users.sdl, orders.sdl, subscription.SDL
	rc, err := Compose(ctx, withSDL)
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalRouterConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "supergraph.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(sgs...)
	cfg.RouterConfigPath = path
	cfg.Subscriptions.Topic = topic
	trigger := make(chan struct{})
	cfg.Reload = ReloadConfig{Trigger: trigger}
	tr, srv := startSubscriptionRouter(t, cfg, broker)

	ws := dialWS(t, ctx, tr.url)
	subA := ws.subscribe("a", statusQuery, map[string]any{"orderId": "o1"})
	waitWatchers(t, srv, 1)

	// A changed file: the reload installs a new engine.
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	trigger <- struct{}{}
	waitLogged(t, tr, `"msg":"supergraph reloaded"`)
	subB := ws.subscribe("b", statusQuery, map[string]any{"orderId": "o1"})
	waitWatchers(t, srv, 2) // same filter, two engines

	pub, err := broker.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	o1p := statusEvent(1, "o1", "u1", events.ChannelEmail, events.StatusPending, 0, "", nil)
	publishStatuses(t, ctx, pub, topic, o1p)
	assertExact(t, "subscription on the old engine", collect(t, "ws a", subA, 1), expect(o1p))
	assertExact(t, "subscription on the new engine", collect(t, "ws b", subB, 1), expect(o1p))

	ws.write(wsTestMessage{ID: "a", Type: "complete"})
	waitWatchers(t, srv, 1)
}
