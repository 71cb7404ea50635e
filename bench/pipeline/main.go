// Command pipeline benchmarks Herald end to end: createOrder through the
// router → orders commit and outbox → relay → Kafka (or NATS JetStream) →
// notifier → SMTP (mailpit), on real Kafka, PostgreSQL and mailpit with the
// four service binaries running as processes.
//
//	go run ./bench/pipeline [-rates 5,10,20,40] [-duration 20s] [-stream kafka|nats]
//
// At each rate it creates orders open-loop and measures, per order, the time
// from the createOrder response to mailpit's receipt of the email (mailpit's
// own Created timestamp, so polling adds no bias). In the same run, on the
// same broker and database server, it measures the floors: a raw franz-go
// produce→consume round trip and PostgreSQL's single-row commit rate. It
// prints markdown tables, each pipeline figure beside its floor, and a
// per-stage breakdown read from the services' own tables.
//
// Infrastructure comes from HERALD_TEST_KAFKA_BROKERS, HERALD_TEST_POSTGRES_DSN,
// HERALD_TEST_NATS_URL and HERALD_TEST_MAILPIT_SMTP/_API/_CA when set (as
// `go run ./internal/testenv/cmd/testinfra up` exports them), else it is
// started here. Everything listens on 127.0.0.1, the run is bounded, and
// everything it started is stopped (services also die with it: Pdeathsig).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/internal/benchcmd"
	"github.com/heraldhq/herald/bench/internal/proc"
	table "github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/testenv"
)

func main() { benchcmd.Main(run) }

type options struct {
	rates         []float64
	duration      time.Duration
	warmup        time.Duration
	stream        string
	users         int
	settle        time.Duration
	drain         time.Duration
	floorDuration time.Duration
	maxInFlight   int
	poll          time.Duration
	keepGoing     bool
	binDir        string
	logDir        string
	out           string
	extra         map[string]map[string]string
	command       string
}

// envFlags collects -env service:NAME=VALUE.
type envFlags map[string]map[string]string

func (e envFlags) String() string { return "" }
func (e envFlags) Set(s string) error {
	svc, kv, ok := strings.Cut(s, ":")
	k, v, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 || !strings.HasPrefix(k, "HERALD_") {
		return fmt.Errorf("want service:HERALD_NAME=value (service users, orders, notifier, router or *), got %q", s)
	}
	if e[svc] == nil {
		e[svc] = map[string]string{}
	}
	e[svc][k] = v
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench/pipeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var rates string
	env := envFlags{}
	fs.StringVar(&rates, "rates", "5,10,20,40", "order rates (orders/s) to run, ascending, comma-separated")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "load time per rate")
	fs.DurationVar(&o.warmup, "warmup", 4*time.Second, "unmeasured load at the first rate before measuring (JIT, pools, consumer group)")
	fs.StringVar(&o.stream, "stream", "kafka", "stream backend: kafka or nats")
	fs.IntVar(&o.users, "users", 20, "users registered through the router; orders go to them in turn")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "a rate kept up only if every email arrived within this after the load stopped")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "longest wait for the emails after the load stopped")
	fs.DurationVar(&o.floorDuration, "floor-duration", 5*time.Second, "time of each floor measurement")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 1000, "createOrder calls waiting at once before further ones count as errors")
	fs.DurationVar(&o.poll, "poll", 250*time.Millisecond, "mailpit poll interval (latency uses mailpit's receive time, not the poll time)")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "run higher rates after one that did not keep up")
	fs.StringVar(&o.binDir, "bin", "", "folder with prebuilt users, orders, notifier, router binaries (default: go build ./cmd/... into a temp dir)")
	fs.StringVar(&o.logDir, "logs", "", "keep the services' logs in this folder (default: a temp dir, removed)")
	fs.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	fs.Var(env, "env", "extra service variable, service:HERALD_NAME=value (service * for all); repeatable")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	prev := 0.0
	for _, f := range strings.Split(rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || r > 2000 || r <= prev {
			return o, fmt.Errorf("-rates: %q is not an ascending list of rates in (0, 2000]", rates)
		}
		o.rates = append(o.rates, r)
		prev = r
	}
	if o.stream != "kafka" && o.stream != "nats" {
		return o, fmt.Errorf("-stream: want kafka or nats, got %q", o.stream)
	}
	if o.duration <= 0 || o.duration > 10*time.Minute || o.users < 1 || o.maxInFlight < 1 || o.poll <= 0 {
		return o, fmt.Errorf("-duration must be in (0, 10m], -users, -max-in-flight and -poll positive")
	}
	o.extra = env
	o.command = "go run ./bench/pipeline " + strings.Join(args, " ")
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pipeline:", err)
		return 2
	}
	if err := bench(ctx, o, getenv, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "pipeline:", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, o options, getenv func(string) string, stdout, log io.Writer) error {
	rep := &report{opts: o, loadBefore: proc.LoadAverage(), started: time.Now()}
	runID := newRunID()
	tmp, err := tempDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	binDir := o.binDir
	if binDir == "" {
		binDir = filepath.Join(tmp, "bin")
		fmt.Fprintln(log, "pipeline: building users, orders, notifier, router")
		if err := testenv.BuildBinaries(ctx, binDir, table.Names()...); err != nil {
			return err
		}
	}
	logDir := o.logDir
	if logDir == "" {
		logDir = filepath.Join(tmp, "logs")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}

	inf, err := startInfra(ctx, o.stream, getenv, log)
	if err != nil {
		return err
	}
	defer inf.close()
	rep.given = inf.Given

	dsn, dropDBs, err := databases(ctx, inf.PostgresDSN, runID, "users", "orders", "notifier", "floor")
	if err != nil {
		return err
	}
	defer dropDBs()

	// Floors first, on the idle infrastructure the pipeline will use.
	fmt.Fprintln(log, "pipeline: measuring floors")
	if err := measureFloors(ctx, o, inf, dsn["floor"], runID, rep); err != nil {
		return fmt.Errorf("floor: %w", err)
	}

	fmt.Fprintln(log, "pipeline: starting users, orders, notifier, router")
	st, err := startStack(ctx, stackConfig{BinDir: binDir, LogDir: logDir, RunID: runID, Stream: o.stream, Inf: inf, DSN: dsn, Extra: o.extra})
	if err != nil {
		return err
	}
	defer st.Stop()

	client := &testenv.GraphQLClient{URL: st.RouterURL, Token: st.Token, HTTP: &http.Client{
		Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute},
		Timeout:   30 * time.Second,
	}}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch := newMailWatch(inf.Mail, "bench-"+runID+"-")
	go watch.run(wctx, o.poll)

	users, _, err := registerUsers(ctx, client, runID, o.users)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "pipeline: %d users registered\n", len(users))

	if o.warmup > 0 {
		fmt.Fprintf(log, "pipeline: warm-up %s at %.0f/s\n", o.warmup, o.rates[0])
		w := runRate(ctx, o, client, watch, st, inf, dsn, o.rates[0], o.warmup, users, log)
		if w.Errors > 0 || w.Missing > 0 {
			return fmt.Errorf("warm-up failed: %d errors, %d emails missing (first error: %v); logs in %s", w.Errors, w.Missing, w.FirstErr, logDir)
		}
	}
	for _, r := range o.rates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(log, "pipeline: %.0f orders/s for %s\n", r, o.duration)
		res := runRate(ctx, o, client, watch, st, inf, dsn, r, o.duration, users, log)
		rep.rates = append(rep.rates, res)
		fmt.Fprintf(log, "pipeline:   achieved %.1f/s, p50 %s ms, p99 %s ms, errors %d, missing %d, kept up: %v %s\n",
			res.Achieved, ms(res.E2E.pct(50)), ms(res.E2E.pct(99)), res.Errors, res.Missing, res.KeptUp, res.Why)
		if dead := st.Dead(); dead != "" {
			return fmt.Errorf("%s exited during the run:\n%s", dead, st.Proc(dead).Tail(3000))
		}
		if !res.KeptUp && !o.keepGoing {
			break
		}
	}
	if err := watch.err(); err != nil {
		fmt.Fprintf(log, "pipeline: last mailpit poll error: %v\n", err)
	}
	rep.loadAfter = proc.LoadAverage()
	return benchcmd.Report(stdout, rep.markdown(), o.out)
}

func measureFloors(ctx context.Context, o options, inf *infra, floorDSN, runID string, rep *report) error {
	for _, conns := range []int{1, 8} {
		cr, err := pgFloor(ctx, floorDSN, conns, o.floorDuration)
		if err != nil {
			return fmt.Errorf("PostgreSQL commit rate (%d connections): %w", conns, err)
		}
		rep.pg = append(rep.pg, cr)
	}
	if o.stream == "kafka" {
		for i, asHerald := range []bool{false, true} {
			rt, err := kafkaFloor(ctx, inf.KafkaBrokers, fmt.Sprintf("pb%s.floor%d", runID, i), asHerald, o.floorDuration)
			if err != nil {
				return fmt.Errorf("kafka round trip: %w", err)
			}
			rep.broker = append(rep.broker, rt)
		}
		return nil
	}
	rt, err := natsFloor(ctx, inf.NATSURL, "PB"+strings.ToUpper(runID)+"FLOOR", o.floorDuration)
	if err != nil {
		return fmt.Errorf("NATS round trip: %w", err)
	}
	rep.broker = append(rep.broker, rt)
	return nil
}
