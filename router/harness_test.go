package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testrun"
	"github.com/heraldhq/herald/internal/testwait"
)

// Fixed data of the fake subgraphs.
var (
	fakeUsers = map[string]map[string]any{
		"u1": {"__typename": "User", "id": "u1", "name": "Ada Lovelace", "email": "ada@example.com", "phone": "+442071234567",
			"preferences": map[string]any{"email": true, "sms": false}, "createdAt": "2024-01-02T03:04:05Z"},
		"u2": {"__typename": "User", "id": "u2", "name": "Bob Babbage", "email": "bob@example.com", "phone": nil,
			"preferences": map[string]any{"email": false, "sms": true}, "createdAt": "2024-02-03T04:05:06Z"},
	}
	fakeOrders = []map[string]any{ // newest first
		{"__typename": "Order", "id": "o3", "userId": "u2", "totalMinor": 500, "currency": "USD", "status": "CREATED", "createdAt": "2024-03-03T00:00:00Z",
			"items": []any{map[string]any{"sku": "PEN", "name": "Pen", "quantity": 5, "unitPriceMinor": 100}}},
		{"__typename": "Order", "id": "o2", "userId": "u1", "totalMinor": 1250, "currency": "EUR", "status": "CANCELLED", "createdAt": "2024-03-02T00:00:00Z",
			"items": []any{map[string]any{"sku": "INK", "name": "Ink", "quantity": 1, "unitPriceMinor": 1250}}},
		{"__typename": "Order", "id": "o1", "userId": "u1", "totalMinor": 4200, "currency": "EUR", "status": "CREATED", "createdAt": "2024-03-01T00:00:00Z",
			"items": []any{
				map[string]any{"sku": "BOOK-1", "name": "Notes on the Engine", "quantity": 2, "unitPriceMinor": 1500},
				map[string]any{"sku": "CARD", "name": "Punched card", "quantity": 12, "unitPriceMinor": 100},
			}},
		// o9 belongs to a user the users subgraph does not know.
		{"__typename": "Order", "id": "o9", "userId": "u404", "totalMinor": 100, "currency": "EUR", "status": "CREATED", "createdAt": "2024-01-01T00:00:00Z",
			"items": []any{map[string]any{"sku": "X", "name": "X", "quantity": 1, "unitPriceMinor": 100}}},
	}
)

func notFound(format string, args ...any) *fakeError {
	return &fakeError{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": "NOT_FOUND"},
		Locations: []any{map[string]any{"line": 1, "column": 2}}}
}

func readSchema(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "schema", name+".graphqls"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newUsersFake(t testing.TB) *fakeSubgraph {
	return startFake(t, &fakeSubgraph{
		sdl: readSchema(t, "users"),
		root: map[string]func(map[string]any) (any, *fakeError){
			"user": func(args map[string]any) (any, *fakeError) {
				id, _ := args["id"].(string)
				if u, ok := fakeUsers[id]; ok {
					return u, nil
				}
				return nil, notFound("user %s not found", id)
			},
		},
		entity: func(rep map[string]any) (any, *fakeError) {
			id, _ := rep["id"].(string)
			if u, ok := fakeUsers[id]; ok && rep["__typename"] == "User" {
				return u, nil
			}
			return nil, notFound("user %s not found", id)
		},
	})
}

func withUser(o map[string]any) map[string]any {
	out := make(map[string]any, len(o)+1)
	for k, v := range o {
		out[k] = v
	}
	out["user"] = map[string]any{"__typename": "User", "id": o["userId"]}
	return out
}

func newOrdersFake(t testing.TB) *fakeSubgraph {
	return startFake(t, &fakeSubgraph{
		sdl: readSchema(t, "orders"),
		root: map[string]func(map[string]any) (any, *fakeError){
			"order": func(args map[string]any) (any, *fakeError) {
				for _, o := range fakeOrders {
					if o["id"] == args["id"] {
						return withUser(o), nil
					}
				}
				return nil, nil
			},
			"createOrder": func(args map[string]any) (any, *fakeError) {
				in, _ := args["input"].(map[string]any)
				if items, _ := in["items"].([]any); len(items) == 0 {
					return nil, &fakeError{Message: "an order needs at least one item",
						Extensions: map[string]any{"code": "BAD_USER_INPUT", "field": "items", "stack": "internal detail"}}
				}
				return nil, &fakeError{Message: "not implemented in the fake", Extensions: map[string]any{"code": "INTERNAL"}}
			},
		},
		entity: func(rep map[string]any) (any, *fakeError) {
			if rep["__typename"] != "User" {
				return nil, notFound("no entity %v", rep["__typename"])
			}
			var orders []any
			for _, o := range fakeOrders {
				if o["userId"] == rep["id"] {
					orders = append(orders, withUser(o))
				}
			}
			if orders == nil {
				orders = []any{}
			}
			return map[string]any{"__typename": "User", "id": rep["id"], "orders": orders}, nil
		},
	})
}

// testRouter is a router.Run in a goroutine on a free port.
type testRouter struct {
	url  string
	run  *testrun.Run
	logs *syncBuffer
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func testConfig(subgraphs ...Subgraph) Config {
	return Config{
		Addr:                "127.0.0.1:0",
		Subgraphs:           subgraphs,
		MaxRequestBytes:     1 << 20,
		SubgraphTimeout:     10 * time.Second,
		StartupWait:         30 * time.Second,
		MaxIdleConnsPerHost: 16,
		MaxConcurrency:      64,
		Auth:                testIssuer.Config(),
	}
}

func startRouter(t testing.TB, cfg Config) *testRouter {
	return startRouterWith(t, cfg, Deps{})
}

// startRouterWith runs Run with deps (its Logger and Ready are the
// harness's), waits until it listens, and stops it when the test ends,
// showing its logs when the test failed.
func startRouterWith(t testing.TB, cfg Config, deps Deps) *testRouter {
	t.Helper()
	tr := &testRouter{logs: newSyncBuffer()}
	deps.Logger = slog.New(slog.NewJSONHandler(tr.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr.run = testrun.Start(t, "router", func(ctx context.Context, ready func(net.Addr)) error {
		deps.Ready = ready
		return Run(ctx, cfg, deps)
	})
	tr.url = tr.run.URL()
	t.Cleanup(func() {
		tr.run.Stop(t)
		if t.Failed() {
			t.Logf("router logs:\n%s", tr.logs.String())
		}
	})
	return tr
}

// waitReady polls /healthz until the supergraph is composed.
func (tr *testRouter) waitReady(t testing.TB) {
	t.Helper()
	var last error // a refused connection is expected while the router starts
	ready := testwait.Value(t, func() (bool, error) {
		resp, err := http.Get(tr.url + "/healthz")
		if last = err; err != nil {
			return false, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}, func(ok bool) bool { return ok })
	if !ready {
		t.Fatalf("router not ready within %s (last: %v); logs:\n%s", testwait.Patience, last, tr.logs.String())
	}
}

// waitLogged polls the router's logs until they contain want.
func waitLogged(t testing.TB, tr *testRouter, want string) {
	t.Helper()
	logs := testwait.Value(t, func() (string, error) { return tr.logs.String(), nil },
		func(logs string) bool { return strings.Contains(logs, want) })
	if !strings.Contains(logs, want) {
		t.Fatalf("no %s logged within %s; logs:\n%s", want, testwait.Patience, logs)
	}
}

type httpResult struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, req *http.Request) httpResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{resp.StatusCode, resp.Header, string(b)}
}

func postJSON(t testing.TB, url, body string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}
