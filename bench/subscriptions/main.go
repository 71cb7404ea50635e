// Command subscriptions benchmarks the fan-out of Herald's live notification
// status (Subscription.notificationStatus) through the real router binary.
//
//	go run ./bench/subscriptions -subscribers 1000 -transport ws -events 5
//
// It starts an embedded NATS JetStream server on 127.0.0.1 (or uses
// HERALD_TEST_NATS_URL, or with -stream kafka the brokers in
// HERALD_TEST_KAFKA_BROKERS), builds and starts the router (-router-bin for a
// prebuilt one) with the built-in notifications subgraph and a one-field
// query subgraph served here, opens N subscribers all filtered to one user,
// waits until every one is registered, and publishes K status events one at
// a time, measuring publish→receive latency at every client, the router's
// CPU during the fan-out and its RSS per subscription. In the same run the
// same N clients subscribe to a floor: a plain Go fan-out server (this
// binary re-executed) tailing the same topic on the same broker and writing
// the same bytes over the same transports, with no GraphQL engine. Every
// figure is printed beside the floor's.
//
// Only loopback addresses are used; every wait is bounded.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/internal/benchcmd"
)

func main() {
	if os.Getenv(floorEnv) == "1" {
		os.Exit(floorMain(os.Stdout, os.Stderr))
	}
	benchcmd.Main(run)
}

// options are the command's flags.
type options struct {
	subscribers     int
	transport       string // ws, sse or both (half each)
	selection       string // status, or order (with an entity fetch)
	events          int
	stream          string // nats or kafka
	routerBin       string
	floor           bool
	eventTimeout    time.Duration
	registerTimeout time.Duration
	dialConcurrency int
	out             string
}

// split returns how many subscribers use WebSocket and SSE.
func (o options) split() (ws, sse int) {
	switch o.transport {
	case "ws":
		return o.subscribers, 0
	case "sse":
		return 0, o.subscribers
	default:
		return o.subscribers - o.subscribers/2, o.subscribers / 2
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench/subscriptions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.subscribers, "subscribers", 1000, "subscribers (one connection each), all filtered to one user")
	fs.StringVar(&o.transport, "transport", "ws", "ws (graphql-transport-ws), sse (GraphQL over SSE), or both (half each)")
	fs.StringVar(&o.selection, "selection", "status", "status: the event's own fields (no subgraph fetch); order: also order { id totalMinor currency }, an entity fetch from the bench subgraph")
	fs.IntVar(&o.events, "events", 5, "status events published, one at a time: the next once every subscriber has the previous one (or -event-timeout passed)")
	fs.StringVar(&o.stream, "stream", "nats", "nats: HERALD_TEST_NATS_URL, else an embedded JetStream server; kafka: the brokers in HERALD_TEST_KAFKA_BROKERS")
	fs.StringVar(&o.routerBin, "router-bin", "", "router binary to run (default: go build ./cmd/router into a temp dir)")
	fs.BoolVar(&o.floor, "floor", true, "also measure the floor (plain Go fan-out server) with the same clients")
	fs.DurationVar(&o.eventTimeout, "event-timeout", 60*time.Second, "longest wait for one event to reach every subscriber")
	fs.DurationVar(&o.registerTimeout, "register-timeout", 3*time.Minute, "longest wait for all subscribers to connect and be registered")
	fs.IntVar(&o.dialConcurrency, "dial-concurrency", 64, "connections being opened at once")
	fs.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	if code, exit := benchcmd.Parse(fs, args); exit {
		return code
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "bench/subscriptions:", err)
		return 2
	}
	res, err := benchmark(ctx, o, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench/subscriptions:", err)
		return 1
	}
	if err := benchcmd.Report(stdout, render(o, res), o.out); err != nil {
		fmt.Fprintln(stderr, "bench/subscriptions:", err)
		return 1
	}
	if !res.complete() {
		fmt.Fprintln(stderr, "bench/subscriptions: not every subscriber received every event (see the report)")
		return 1
	}
	return 0
}

func (o options) validate() error {
	var problems []string
	if o.subscribers < 1 || o.subscribers > 50000 {
		problems = append(problems, "-subscribers must be in [1, 50000]")
	}
	if o.transport != "ws" && o.transport != "sse" && o.transport != "both" {
		problems = append(problems, "-transport must be ws, sse or both")
	}
	if o.selection != "status" && o.selection != "order" {
		problems = append(problems, "-selection must be status or order")
	}
	if o.events < 1 || o.events > 1000 {
		problems = append(problems, "-events must be in [1, 1000]")
	}
	if o.stream != "nats" && o.stream != "kafka" {
		problems = append(problems, "-stream must be nats or kafka")
	}
	if o.eventTimeout <= 0 || o.eventTimeout > 10*time.Minute {
		problems = append(problems, "-event-timeout must be in (0, 10m]")
	}
	if o.registerTimeout <= 0 || o.registerTimeout > 30*time.Minute {
		problems = append(problems, "-register-timeout must be in (0, 30m]")
	}
	if o.dialConcurrency < 1 || o.dialConcurrency > 1024 {
		problems = append(problems, "-dial-concurrency must be in [1, 1024]")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
