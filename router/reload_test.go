package router

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/testwait"
)

// startReloadRouter is startRouter with a ReloadConfig.
func startReloadRouter(t *testing.T, cfg Config, rc ReloadConfig) *testRouter {
	t.Helper()
	cfg.Reload = rc
	tr := startRouterWith(t, cfg, Deps{})
	tr.waitReady(t)
	return tr
}

const (
	reloadCatalogSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { products: [Product!]! slow: String! }
type Product @key(fields: "id") { id: ID! name: String! }
`
	reloadStockSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Product @key(fields: "id") { id: ID! inStock: Int! }
`
)

// reloadGraph is two subgraphs; catalog's slow root field blocks until
// release is closed, to keep a request in flight across a reload.
func reloadGraph(t *testing.T) (catalog, stock *fedSubgraph, slowStarted <-chan struct{}, release chan struct{}) {
	started := make(chan struct{}, 1)
	release = make(chan struct{})
	catalog = startFedSubgraph(t, fedSpec{name: "catalog", sdl: reloadCatalogSDL,
		root: map[string]resolver{
			"products": listOf(obj("Product", "id", "p1", "name", "Lamp", "color", "red")),
			"slow":     one("finished on the old engine"),
		},
		before: func(q string) {
			if strings.Contains(q, "slow") {
				started <- struct{}{}
				select {
				case <-release:
				case <-time.After(30 * time.Second):
					t.Error("the slow request was never released")
				}
			}
		}})
	stock = startFedSubgraph(t, fedSpec{name: "stock", sdl: reloadStockSDL,
		entities: map[string]resolver{"Product": withID("Product", "inStock", 3)}})
	return catalog, stock, started, release
}

// waitBody polls a query until its response is want (each poll is a new
// request, so it sees whichever engine is current).
func waitBody(t *testing.T, tr *testRouter, body, want string) {
	t.Helper()
	last := testwait.Value(t, func() (string, error) { return postJSON(t, tr.url+"/graphql", body).body, nil },
		func(got string) bool { return got == want })
	if last != want {
		t.Fatalf("no reload within %s: %s answers\n%s\nwant\n%s\nlogs:\n%s", testwait.Patience, body, last, want, tr.logs.String())
	}
}

const (
	colorQuery   = `{"query":"{ products { name color inStock } }"}`
	colorMissing = `{"errors":[{"message":"Cannot query field \"color\" on type \"Product\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`
	colorPresent = `{"data":{"products":[{"name":"Lamp","color":"red","inStock":3}]}}`
)

func TestReloadSwapsCompositionWithoutDroppingRequestsInFlight(t *testing.T) {
	modes := []struct {
		name    string
		reload  func(trigger chan struct{}) ReloadConfig
		trigger bool
	}{
		{"on trigger (SIGHUP)", func(tr chan struct{}) ReloadConfig { return ReloadConfig{Trigger: tr} }, true},
		{"polling", func(chan struct{}) ReloadConfig { return ReloadConfig{Interval: 20 * time.Millisecond} }, false},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			catalog, stock, started, release := reloadGraph(t)
			trigger := make(chan struct{})
			tr := startReloadRouter(t, testConfig(catalog.subgraph(), stock.subgraph()), m.reload(trigger))
			if got := postJSON(t, tr.url+"/graphql", colorQuery).body; got != colorMissing {
				t.Fatalf("before the change: %s", got)
			}

			// A request in flight on the current engine.
			slow := make(chan httpResult, 1)
			go func() { slow <- postJSON(t, tr.url+"/graphql", `{"query":"{ slow }"}`) }()
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				t.Fatal("the slow request did not reach the subgraph")
			}

			// The subgraph deploys a new field; the router picks it up.
			catalog.setSDL(strings.Replace(reloadCatalogSDL, "name: String!", "name: String! color: String!", 1))
			if m.trigger {
				trigger <- struct{}{}
			}
			waitBody(t, tr, colorQuery, colorPresent)

			select {
			case r := <-slow:
				t.Fatalf("the slow request ended before it was released: %d %s", r.status, r.body)
			default:
			}
			close(release)
			select {
			case r := <-slow:
				if r.status != 200 || r.body != `{"data":{"slow":"finished on the old engine"}}` {
					t.Errorf("request in flight across the reload: %d %s", r.status, r.body)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the request in flight never finished")
			}
			// The reloader logs after it swapped the engine: the new answer
			// can be seen before the line is written.
			waitLogged(t, tr, `"msg":"supergraph reloaded"`)
		})
	}
}

func TestReloadCompositionFailureKeepsCurrentEngine(t *testing.T) {
	catalog, stock, _, _ := reloadGraph(t)
	trigger := make(chan struct{})
	tr := startReloadRouter(t, testConfig(catalog.subgraph(), stock.subgraph()), ReloadConfig{Trigger: trigger})
	want := `{"data":{"products":[{"name":"Lamp","inStock":3}]}}`
	query := `{"query":"{ products { name inStock } }"}`
	if got := postJSON(t, tr.url+"/graphql", query).body; got != want {
		t.Fatalf("before the change: %s", got)
	}

	// stock now disagrees with catalog on the type of Product.id.
	stock.setSDL(strings.Replace(reloadStockSDL, "id: ID!", "id: Int!", 1))
	trigger <- struct{}{}
	waitLogged(t, tr, "supergraph reload failed")
	logs := tr.logs.String()
	for _, part := range []string{`\"Product.id\"`, `subgraph: \"stock\"`, `subgraph: \"catalog\"`} {
		if !strings.Contains(logs, part) {
			t.Errorf("reload failure log does not name %s:\n%s", part, logs)
		}
	}
	if got := postJSON(t, tr.url+"/graphql", query).body; got != want {
		t.Errorf("after a failed reload the old composition must still serve: %s", got)
	}
	if strings.Contains(logs, `"msg":"supergraph reloaded"`) {
		t.Errorf("a failed composition was swapped in:\n%s", logs)
	}

	// An unreachable subgraph is logged by name and also keeps the engine.
	stock.setSDL(reloadStockSDL)
	catalog.srv.Close()
	trigger <- struct{}{}
	waitLogged(t, tr, "subgraph catalog")
	if strings.Contains(tr.logs.String(), `"msg":"supergraph reloaded"`) {
		t.Errorf("a reload without catalog's SDL swapped the engine:\n%s", tr.logs.String())
	}
}

func TestLoadReloadConfig(t *testing.T) {
	tests := []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"30s", 30 * time.Second, false},
		{"-1s", 0, true},
		{"often", 0, true},
	}
	for _, tt := range tests {
		v := config.New(func(k string) string {
			if k == "HERALD_ROUTER_RELOAD_INTERVAL" {
				return tt.env
			}
			return ""
		})
		got := LoadReloadConfig(v)
		if err := v.Err(); (err != nil) != tt.wantErr || (!tt.wantErr && got.Interval != tt.want) {
			t.Errorf("%q: interval %v, err %v", tt.env, got.Interval, err)
		}
	}
}
