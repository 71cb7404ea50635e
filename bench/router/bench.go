package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/internal/load"
	"github.com/heraldhq/herald/bench/internal/proc"
	"github.com/heraldhq/herald/bench/internal/routerproc"
	"github.com/heraldhq/herald/bench/router/subgraphs"
)

func queryByName(name string) (subgraphs.Query, bool) {
	q, ok := subgraphs.Queries[name]
	return q, ok
}

// measurement is one query's router run and floor run.
type measurement struct {
	query        subgraphs.Query
	router       load.Result
	floor        load.Result
	routerCPU    time.Duration // user+system CPU of the router process during the measured run
	rssReady     int64         // router RSS once ready, before any load
	rssPeak      int64         // router VmHWM after the run
	loadBefore   string
	loadAfter    string
	responseSize int
	floorSize    int
}

func benchmark(ctx context.Context, o options, logw io.Writer) (string, error) {
	dir, err := os.MkdirTemp("", "herald-bench-router-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	set, err := subgraphs.Start()
	if err != nil {
		return "", err
	}
	defer set.Close()

	bin := o.routerBin
	if bin == "" {
		if bin, err = routerproc.Build(ctx, dir, logw); err != nil {
			return "", err
		}
	}
	supergraph := ""
	if o.compose == "file" {
		if supergraph, err = composeSupergraph(ctx, bin, dir, set); err != nil {
			return "", err
		}
	}

	started := time.Now()
	loadStart := proc.LoadAverage()
	var ms []measurement
	for i, name := range o.queries {
		q, _ := queryByName(name)
		m, err := measureQuery(ctx, o, bin, filepath.Join(dir, fmt.Sprintf("router-%d.log", i)), set, supergraph, q, logw)
		if err != nil {
			return "", fmt.Errorf("query %s: %w", name, err)
		}
		ms = append(ms, m)
	}
	return render(o, ms, started, loadStart), nil
}

// measureQuery starts a fresh router (so its peak RSS belongs to this query
// alone), checks both answers once, then measures the router and the floor.
func measureQuery(ctx context.Context, o options, bin, logPath string, set *subgraphs.Set, supergraph string, q subgraphs.Query, logw io.Writer) (m measurement, err error) {
	m.query = q
	rp, err := startRouter(ctx, bin, logPath, set, supergraph, o.tokenCache)
	if err != nil {
		return m, err
	}
	defer func() {
		if serr := rp.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("router: %w; logs:\n%s", serr, rp.LogText())
		}
	}()
	mem, err := proc.ReadMemory(rp.PID())
	if err != nil {
		return m, err
	}
	m.rssReady = mem.RSS

	var header http.Header
	if o.token {
		tok, err := rp.Signer.Mint("bench", nil, time.Hour)
		if err != nil {
			return m, err
		}
		header = http.Header{"Authorization": {"Bearer " + tok}}
	}
	routerTarget, size, err := target(ctx, rp.URL, q.Router, header)
	if err != nil {
		return m, fmt.Errorf("router: %w", err)
	}
	m.responseSize = size
	floorTarget, size, err := target(ctx, set.URLs[q.FloorSubgraph], q.Floor, nil)
	if err != nil {
		return m, fmt.Errorf("floor: %w", err)
	}
	m.floorSize = size

	opts := load.Options{Concurrency: o.concurrency, Duration: o.duration}
	warm := load.Options{Concurrency: o.concurrency, Duration: o.warmup}

	m.loadBefore = proc.LoadAverage()
	fmt.Fprintf(logw, "%s: router run (%s at concurrency %d, load average %s)\n", q.Name, o.duration, o.concurrency, m.loadBefore)
	if o.warmup > 0 {
		if _, err := load.Run(ctx, routerTarget, warm); err != nil {
			return m, err
		}
	}
	cpu0, err := proc.ReadCPU(rp.PID())
	if err != nil {
		return m, err
	}
	if m.router, err = load.Run(ctx, routerTarget, opts); err != nil {
		return m, err
	}
	cpu1, err := proc.ReadCPU(rp.PID())
	if err != nil {
		return m, err
	}
	m.routerCPU = cpu1 - cpu0
	if mem, err = proc.ReadMemory(rp.PID()); err != nil {
		return m, err
	}
	m.rssPeak = mem.Peak

	fmt.Fprintf(logw, "%s: floor run (%s subgraph directly)\n", q.Name, q.FloorSubgraph)
	if o.warmup > 0 {
		if _, err := load.Run(ctx, floorTarget, warm); err != nil {
			return m, err
		}
	}
	if m.floor, err = load.Run(ctx, floorTarget, opts); err != nil {
		return m, err
	}
	m.loadAfter = proc.LoadAverage()
	return m, nil
}

// target sends query once, insists on a clean answer with data, and returns
// a load target that counts any answer differing from that first one as an
// error (the data is fixed, so every correct answer is byte-identical).
func target(ctx context.Context, url, query string, header http.Header) (load.Target, int, error) {
	body, err := json.Marshal(map[string]string{"query": query})
	if err != nil {
		return load.Target{}, 0, err
	}
	t := load.Target{URL: url, Body: body, Header: header}
	if err := load.CheckLoopback(url); err != nil {
		return t, 0, err
	}
	client := load.NewClient(1, 30*time.Second)
	defer client.CloseIdleConnections()
	var buf bytes.Buffer
	if err := load.Do(ctx, client, t, &buf); err != nil {
		return t, 0, err
	}
	var resp struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors json.RawMessage            `json:"errors"`
	}
	if err := json.Unmarshal(buf.Bytes(), &resp); err != nil {
		return t, 0, fmt.Errorf("decode answer: %w", err)
	}
	if len(resp.Errors) > 0 || len(resp.Data) == 0 {
		return t, 0, fmt.Errorf("answer has errors or no data: %.500s", buf.String())
	}
	want := bytes.Clone(buf.Bytes())
	t.Check = func(got []byte) error {
		if !bytes.Equal(got, want) {
			return fmt.Errorf("answer differs from the first one: %.200s", got)
		}
		return nil
	}
	return t, len(want), nil
}

func render(o options, ms []measurement, started time.Time, loadStart string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Router benchmark, %s; %d CPUs (GOMAXPROCS %d), %s; load average %s at start.\n",
		started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadStart)
	if o.token {
		b.WriteString("Every router request carries a bearer token (Ed25519) that the router verifies")
		if o.tokenCache {
			b.WriteString(" (its verified-token cache on: one signature check per token and minute).\n")
		} else {
			b.WriteString(" on every request (HERALD_AUTH_CACHE_SIZE=0).\n")
		}
	} else {
		b.WriteString("Router requests carry no token (anonymous callers; the benchmark graph has no @authenticated fields).\n")
	}
	fmt.Fprintf(&b, "Closed loop, %d workers, %s measured after %s warm-up per run; supergraph from %s.\n",
		o.concurrency, o.duration, o.warmup, map[string]string{"file": "a composed file (HERALD_ROUTER_CONFIG)", "startup": "composition at start-up"}[o.compose])
	b.WriteString("Floor: the same load sent straight to one subgraph (in the benchmark process) with a query of the same shape that it answers alone:")
	for _, m := range ms {
		fmt.Fprintf(&b, " %s → %s;", m.query.Name, m.query.FloorSubgraph)
	}
	b.WriteString("\n\n| query | figure | router | floor (one subgraph alone) |\n|---|---|---|---|\n")
	for _, m := range ms {
		n := m.query.Name
		row := func(fig, r, f string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", n, fig, r, f) }
		row("requests/s", fmt.Sprintf("%.0f", m.router.RPS()), fmt.Sprintf("%.0f", m.floor.RPS()))
		row("p50 latency", ms2(m.router.Percentile(50)), ms2(m.floor.Percentile(50)))
		row("p99 latency", ms2(m.router.Percentile(99)), ms2(m.floor.Percentile(99)))
		row("errors / requests", fmt.Sprintf("%d / %d", m.router.Errors, m.router.Requests), fmt.Sprintf("%d / %d", m.floor.Errors, m.floor.Requests))
		perReq := time.Duration(0)
		if ok := m.router.Requests; ok > 0 {
			perReq = m.routerCPU / time.Duration(ok)
		}
		row("router CPU per request", fmt.Sprintf("%.0f µs", float64(perReq)/float64(time.Microsecond)), "n/a (in-process)")
		row("router peak RSS (VmHWM)", mib(m.rssPeak)+fmt.Sprintf(" (%s when ready)", mib(m.rssReady)), "n/a (in-process)")
		row("response size", fmt.Sprintf("%d B", m.responseSize), fmt.Sprintf("%d B", m.floorSize))
		row("load average before / after", m.loadBefore, m.loadAfter)
	}
	var errs []string
	for _, m := range ms {
		if m.router.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s router: %s", m.query.Name, m.router.FirstError))
		}
		if m.floor.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s floor: %s", m.query.Name, m.floor.FirstError))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nFirst errors:\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}

func ms2(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
