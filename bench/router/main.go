// Command router benchmarks Herald's federation router on the standard
// federated workload (bench/router/subgraphs): it builds and starts the real
// router binary against four in-process gqlgen subgraphs, drives it with a
// closed-loop load generator at fixed concurrency, and in the same run sends
// the same load directly to one subgraph alone (the floor). It prints
// a markdown table, every router figure beside its floor.
//
//	go run ./bench/router -duration 20s -concurrency 32
//
// Only 127.0.0.1 is ever targeted, and every run is bounded in time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/internal/benchcmd"
)

func main() {
	benchcmd.Main(func(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) int {
		return run(ctx, args, stdout, stderr)
	})
}

// options are the command's flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	queries     []string
	routerBin   string
	compose     string
	out         string
	// token sends a bearer token the router verifies on every request
	// (the cost of verification, against a run without).
	token bool
	// tokenCache keeps the router's verified-token cache on.
	tokenCache bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench/router", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var queries string
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measured duration of each run (router and floor, per query)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "unmeasured load before each run (connection pools, plan cache, GC pacing)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "closed-loop workers: requests in flight at any time")
	fs.StringVar(&queries, "query", "typical,deep", "comma-separated queries to run: typical, deep, three-subgraph")
	fs.StringVar(&o.routerBin, "router-bin", "", "router binary to run (default: go build ./cmd/router into a temp dir)")
	fs.StringVar(&o.compose, "compose", "file", "file: compose once with `router compose` and start from HERALD_ROUTER_CONFIG (as deployed); startup: the router composes from the subgraphs' _service SDL")
	fs.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&o.token, "token", false, "send a bearer token (Ed25519, verified by the router with its public key) on every router request")
	fs.BoolVar(&o.tokenCache, "token-cache", true, "with -token: keep the router's verified-token cache on (off: every request's signature is checked)")
	if code, exit := benchcmd.Parse(fs, args); exit {
		return code
	}
	o.queries = strings.Split(queries, ",")
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "bench/router:", err)
		return 2
	}
	report, err := benchmark(ctx, o, stderr)
	if err == nil {
		err = benchcmd.Report(stdout, report, o.out)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench/router:", err)
		return 1
	}
	return 0
}

func (o options) validate() error {
	var problems []string
	if o.duration <= 0 || o.duration > 10*time.Minute {
		problems = append(problems, "-duration must be in (0, 10m]")
	}
	if o.warmup < 0 || o.warmup > time.Minute {
		problems = append(problems, "-warmup must be in [0, 1m]")
	}
	if o.concurrency < 1 || o.concurrency > 1024 {
		problems = append(problems, "-concurrency must be in [1, 1024]")
	}
	for _, q := range o.queries {
		if _, ok := queryByName(q); !ok {
			problems = append(problems, fmt.Sprintf("-query: unknown query %q", q))
		}
	}
	if o.compose != "file" && o.compose != "startup" {
		problems = append(problems, "-compose must be file or startup")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
