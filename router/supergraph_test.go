package router

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/router/subscription"
)

// readSupergraphInput fills the built-in subgraph's SDL itself, asks
// fetchRemote for the others in configuration order, and fingerprints
// names, URLs and SDL, so that a reload sees any change.
func TestReadSupergraphInput(t *testing.T) {
	cfg := testConfig(Subgraph{Name: "users", URL: "http://u"}, builtinNotifications(), Subgraph{Name: "orders", URL: "http://o"})
	sdl := map[string]string{"users": "type Query { a: Int }", "orders": "type Query { b: Int }"}
	var asked []string
	fetch := func(remote []Subgraph) ([]Subgraph, error) {
		asked = asked[:0]
		for i := range remote {
			asked = append(asked, remote[i].Name)
			remote[i].SDL = sdl[remote[i].Name]
		}
		return remote, nil
	}
	in, err := readSupergraphInput(cfg, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []string{"users", "orders"}) {
		t.Errorf("fetched %v, want users, orders", asked)
	}
	if in.file != nil || len(in.subgraphs) != 3 || in.subgraphs[0].SDL != sdl["users"] ||
		in.subgraphs[1].SDL != subscription.SDL || in.subgraphs[2].Name != "orders" || in.subgraphs[2].SDL != sdl["orders"] {
		t.Errorf("input %+v", in)
	}
	if cfg.Subgraphs[0].SDL != "" {
		t.Error("the configuration was modified")
	}
	again, _ := readSupergraphInput(cfg, fetch)
	if again.fingerprint != in.fingerprint {
		t.Error("the same input has another fingerprint")
	}
	sdl["orders"] = "type Query { b: Int c: Int }"
	changed, _ := readSupergraphInput(cfg, fetch)
	if changed.fingerprint == in.fingerprint {
		t.Error("a changed SDL has the same fingerprint")
	}
	moved := cfg
	moved.Subgraphs = slices.Clone(cfg.Subgraphs)
	moved.Subgraphs[0].URL = "http://u2"
	if m, _ := readSupergraphInput(moved, fetch); m.fingerprint == changed.fingerprint {
		t.Error("a changed URL has the same fingerprint")
	}
	boom := errors.New("boom")
	if _, err := readSupergraphInput(cfg, func([]Subgraph) ([]Subgraph, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("fetch error = %v", err)
	}
}

// A router serving a committed supergraph file reloads it when its content
// changes; a broken file keeps the current engine and is reported once per
// content, naming the file; a file that cannot be read is reported every
// round.
func TestReloadRouterConfigFile(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join("..", "schema", "supergraph.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "supergraph.json")
	write := func(b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(committed)
	cfg := testConfig(Subgraph{Name: "users", URL: "http://127.0.0.1:1/graphql"}, Subgraph{Name: "orders", URL: "http://127.0.0.1:2/graphql"})
	cfg.RouterConfigPath = path
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := newSyncBuffer()
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	subs := subscription.NewServer(ctx, cfg.Subscriptions, nil, logger)
	h := newRouterHandler(logger, cfg, subs, nil)
	client := newSubgraphClient(cfg)
	defer client.CloseIdleConnections()
	r := &reloader{cfg: cfg, h: h, client: client, logger: logger}
	failures := func() int { return strings.Count(logs.String(), "supergraph reload failed") }

	if !r.reload(ctx) || h.engine.Load() == nil {
		t.Fatal("the first round did not install an engine")
	}
	first := h.engine.Load()
	if r.reload(ctx) || h.engine.Load() != first {
		t.Error("an unchanged file was installed again")
	}

	write([]byte(`{"engineConfig":`))
	for range 2 {
		if r.reload(ctx) || h.engine.Load() != first {
			t.Error("a broken file replaced the engine")
		}
	}
	if n := failures(); n != 1 || !strings.Contains(logs.String(), path+": parse router config") {
		t.Errorf("%d failures logged, want 1 naming the file:\n%s", n, logs.String())
	}

	write(append(committed, '\n'))
	if !r.reload(ctx) || h.engine.Load() == first {
		t.Error("a changed file was not installed")
	}
	// The replaced engine had nothing running: it is released at once.
	select {
	case <-first.stopped():
	default:
		t.Error("the replaced engine was not released")
	}
	if first.acquire() {
		t.Error("a released engine took a new operation")
	}

	// An engine with an operation running on it is released after it.
	second := h.acquireEngine()
	write(append(committed, '\n', '\n'))
	if !r.reload(ctx) || h.engine.Load() == second {
		t.Fatal("a changed file was not installed")
	}
	select {
	case <-second.stopped():
		t.Fatal("the replaced engine was released while an operation ran on it")
	default:
	}
	if x := h.acquireEngine(); x == second || x == nil {
		t.Error("a new operation did not get the new engine")
	} else {
		x.release()
	}
	second.release()
	select {
	case <-second.stopped():
	default:
		t.Error("the replaced engine was not released after its last operation")
	}
	select {
	case <-h.engine.Load().stopped():
		t.Error("the current engine was released")
	default:
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	before := failures()
	for range 2 {
		if r.reload(ctx) {
			t.Error("a missing file installed an engine")
		}
	}
	if n := failures() - before; n != 2 || !strings.Contains(logs.String(), "read router config") {
		t.Errorf("%d failures logged for a missing file, want 2:\n%s", n, logs.String())
	}
}
