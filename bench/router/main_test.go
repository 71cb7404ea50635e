package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/bench/internal/load"
	"github.com/heraldhq/herald/bench/router/subgraphs"
	"github.com/heraldhq/herald/internal/testrun"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/router"
)

var update = flag.Bool("update", false, "rewrite the golden answers in testdata/")

// TestWorkloadAnswers checks the workload itself: every benchmark query,
// through the router and straight to its floor subgraph, returns exactly
// the golden answer. It is what makes the benchmark's figures figures of
// correct work (@requires computed from the products' price and weight,
// @provides usernames, nested entity joins).
func TestWorkloadAnswers(t *testing.T) {
	set, err := subgraphs.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := set.Close(); err != nil {
			t.Error(err)
		}
	})
	routerURL := startInProcessRouter(t, set)

	for _, name := range []string{"typical", "deep", "three-subgraph"} {
		q := subgraphs.Queries[name]
		for _, c := range []struct{ kind, url, query string }{
			{"router", routerURL, q.Router},
			{"floor", set.URLs[q.FloorSubgraph], q.Floor},
		} {
			t.Run(name+"/"+c.kind, func(t *testing.T) {
				tg, _, err := target(context.Background(), c.url, c.query, nil)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := load.Do(context.Background(), load.NewClient(1, 30*time.Second), tg, &buf); err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, buf.Bytes(), "", "  "); err != nil {
					t.Fatal(err)
				}
				pretty.WriteByte('\n')
				golden := filepath.Join("testdata", name+"."+c.kind+".json")
				if *update {
					if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(pretty.Bytes(), want) {
					t.Errorf("answer differs from %s (run with -update to rewrite):\n%s", golden, pretty.String())
				}
			})
		}
	}
}

// startInProcessRouter runs router.Run on a free port against set, composing
// at start-up, and returns its GraphQL URL once it is ready.
func startInProcessRouter(t *testing.T, set *subgraphs.Set) string {
	t.Helper()
	sgs, err := router.ParseSubgraphs(strings.Split(set.RouterEnv(), ","))
	if err != nil {
		t.Fatal(err)
	}
	cfg := router.Config{
		Addr: "127.0.0.1:0", Subgraphs: sgs, MaxRequestBytes: 1 << 20,
		SubgraphTimeout: 10 * time.Second, StartupWait: 30 * time.Second,
		MaxIdleConnsPerHost: 8, MaxConcurrency: 64,
		// As in routerproc.go: the deep query's worst-case estimate is
		// about 5 million values; the workload is not about the cost limit.
		Limits: router.Limits{MaxCost: 10_000_000},
	}
	run := testrun.Start(t, "router", func(ctx context.Context, ready func(net.Addr)) error {
		return router.Run(ctx, cfg, router.Deps{Ready: ready})
	})
	// Ready once a query answers without errors: composition runs after listening.
	tg := load.Target{URL: run.URL() + "/graphql", Body: []byte(`{"query":"{ __typename }"}`)}
	client := load.NewClient(1, 5*time.Second)
	answer := func() (error, error) {
		var buf bytes.Buffer
		return load.Do(t.Context(), client, tg, &buf), nil
	}
	if err := testwait.Value(t, answer, func(err error) bool { return err == nil }); err != nil {
		t.Fatalf("router not ready within %s: %v", testwait.Patience, err)
	}
	return tg.URL
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"zero duration", []string{"-duration", "0s"}, "-duration must be in (0, 10m]"},
		{"unbounded duration", []string{"-duration", "11m"}, "-duration must be in (0, 10m]"},
		{"no workers", []string{"-concurrency", "0"}, "-concurrency must be in [1, 1024]"},
		{"unknown query", []string{"-query", "typical,huge"}, `unknown query "huge"`},
		{"compose mode", []string{"-compose", "never"}, "-compose must be file or startup"},
		{"all at once", []string{"-concurrency", "0", "-query", "x"}, "-concurrency must be in [1, 1024]; -query: unknown query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for url, ok := range map[string]bool{
		"http://127.0.0.1:4000/graphql": true,
		"http://[::1]:4000/graphql":     true,
		"http://10.0.0.1:4000/graphql":  false,
		"http://localhost:4000/graphql": false, // names are not resolved: only literal loopback IPs
		"http://192.168.1.2/graphql":    false,
	} {
		if err := load.CheckLoopback(url); (err == nil) != ok {
			t.Errorf("CheckLoopback(%s) = %v, want ok=%v", url, err, ok)
		}
	}
}

// TestBenchmarkEndToEnd runs the whole harness briefly: build, compose, start
// the router binary, load it and the floor, and print a table without errors.
// It asserts nothing about speed.
func TestBenchmarkEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the router binary")
	}
	var stdout, stderr bytes.Buffer
	// Each side must complete at least one request within -duration: long
	// enough that a loaded machine still fits one in.
	code := run(context.Background(), []string{"-duration", "2s", "-warmup", "0s", "-concurrency", "2", "-query", "typical"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if !regexp.MustCompile(`\| typical \| errors / requests \| 0 / [1-9][0-9]* \| 0 / [1-9][0-9]* \|`).MatchString(out) {
		t.Errorf("want a row with zero errors and some requests on both sides:\n%s", out)
	}
	if !regexp.MustCompile(`\| typical \| router peak RSS \(VmHWM\) \| [1-9][0-9.]* MiB`).MatchString(out) {
		t.Errorf("want the router's peak RSS:\n%s", out)
	}
}
