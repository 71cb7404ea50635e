package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/bench/internal/proc"
	"github.com/heraldhq/herald/bench/internal/routerproc"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/router/subscription"
)

// maxBarrierRounds bounds the warm-up events of the registration barrier,
// barrierRoundWait the wait for each.
const (
	maxBarrierRounds = 8
	barrierRoundWait = 10 * time.Second
)

// result is one run: the router side and the floor side.
type result struct {
	started            time.Time
	loadStart, loadEnd string
	stream             string
	n, nWS, nSSE, k    int
	nofile             uint64
	router, floor      *side
	brokerHop          []time.Duration // publish → the benchmark's own tail, every measured event of both sides, sorted
	routerBin          string
}

// complete tells whether every subscriber of every side received every
// event exactly once, cleanly.
func (r *result) complete() bool {
	for _, s := range []*side{r.router, r.floor} {
		if s == nil {
			continue
		}
		if s.errs > 0 || s.dups > 0 {
			return false
		}
		for _, e := range s.events {
			if e.received != r.n {
				return false
			}
		}
	}
	return true
}

// side is what one server (router or floor) measured.
type side struct {
	name                                   string
	connect, register                      time.Duration
	barrierRounds, firstRoundReached       int
	rssReady, rssRegistered, rssAfter, hwm int64
	cpu, window                            time.Duration
	benchCPU                               time.Duration // this process (clients; an embedded broker) over the same window
	fetches                                int64         // Order entity fetches the bench subgraph served during the events
	events                                 []eventResult
	errs, dups, unknown                    int
	firstErr                               string
	metrics                                map[string]float64 // router's subscription metrics after the events
	ready, registered                      serverStats
	loadBefore, loadAfter                  string
}

type eventResult struct {
	sent        time.Time
	ack         time.Duration // publish call (until the broker's ack)
	received    int
	all, ws, ss []time.Duration // publish → receive, sorted
}

// delivered counts messages received across events.
func (s *side) delivered() int {
	n := 0
	for _, e := range s.events {
		n += e.received
	}
	return n
}

// pooled returns every latency of the measured events, per transport ("all", "ws", "sse").
func (s *side) pooled(which string) []time.Duration {
	var out []time.Duration
	for _, e := range s.events {
		switch which {
		case "ws":
			out = append(out, e.ws...)
		case "sse":
			out = append(out, e.ss...)
		default:
			out = append(out, e.all...)
		}
	}
	slices.Sort(out)
	return out
}

// raiseNoFile lifts this process's open-file limit (soft to hard, the hard
// one too when it is below need and the process may). Child processes
// inherit it: Go restores the original soft limit in children only when the
// program never called Setrlimit itself.
func raiseNoFile(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	want := rl
	if want.Max < need {
		want.Max = need
	}
	want.Cur = want.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = rl
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return 0, err
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < need {
		return rl.Cur, fmt.Errorf("open-file limit %d (hard %d) is below the %d this many subscribers need", rl.Cur, rl.Max, need)
	}
	return rl.Cur, nil
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x%s", time.Now().Unix()%100000, hex.EncodeToString(b[:]))
}

// tailRecorder is the benchmark's own reader of the topic: the broker hop
// (publish → one consumer), the floor under both servers' latencies.
type tailRecorder struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (t *tailRecorder) handle(m stream.Message) {
	now := time.Now()
	t.mu.Lock()
	t.seen[m.Header("ce_id")] = now
	t.mu.Unlock()
}

func (t *tailRecorder) at(id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.seen[id]
	return v, ok
}

func benchmark(ctx context.Context, o options, getenv func(string) string, logw io.Writer) (*result, error) {
	nofile, err := raiseNoFile(uint64(o.subscribers) + 2048)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "herald-bench-subscriptions-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	res := &result{started: time.Now(), loadStart: proc.LoadAverage(), n: o.subscribers, k: o.events, nofile: nofile}
	res.nWS, res.nSSE = o.split()

	st, err := openStream(ctx, o.stream, dir, getenv)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	defer st.close()
	res.stream = st.desc
	runID := newRunID()
	topic := "SubBench" + runID
	user, order := "u-bench-"+runID, "o-bench-"+runID
	if err := st.broker.EnsureTopic(ctx, topic); err != nil {
		return nil, fmt.Errorf("create topic %s: %w", topic, err)
	}
	pub, err := st.broker.Publisher()
	if err != nil {
		return nil, err
	}
	defer pub.Close()

	tr := &tailRecorder{seen: map[string]time.Time{}}
	tctx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	tailReady := make(chan struct{})
	go func() { _ = st.broker.Tail(tctx, topic, func() { close(tailReady) }, tr.handle) }()
	select {
	case <-tailReady:
	case <-time.After(60 * time.Second):
		return nil, errors.New("the benchmark's own tail of the topic was not ready within 60s")
	}

	bin := o.routerBin
	if bin == "" {
		if bin, err = routerproc.Build(ctx, dir, logw); err != nil {
			return nil, err
		}
	}
	res.routerBin = bin
	sg, err := startBenchSubgraph()
	if err != nil {
		return nil, err
	}
	defer sg.close()
	subgraphs := "bench=" + sg.url + ",notifications=" + subscription.BuiltinURL
	supergraph, err := routerproc.Compose(ctx, bin, dir, subgraphs, map[string]string{"bench": benchSubgraphSDL, subscription.SubgraphName: subscription.SDL})
	if err != nil {
		return nil, err
	}

	// Router side.
	fmt.Fprintf(logw, "router: starting (%d subscribers: %d ws, %d sse; %d events; load %s)\n", o.subscribers, res.nWS, res.nSSE, o.events, proc.LoadAverage())
	rp, err := routerproc.Start(ctx, bin, filepath.Join(dir, "router.log"), routerproc.Options{
		Subgraphs: subgraphs, Supergraph: supergraph, Env: st.routerEnv(topic),
	})
	if err != nil {
		return nil, err
	}
	// An operator: subscribers filter on a user of the benchmark's own.
	token, err := rp.Signer.Mint("bench-operator", []string{identity.OperatorScope}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	res.router, err = measureSide(ctx, o, sideEnv{
		name: "router", base: rp.Base, pid: rp.PID(), runID: runID, user: user, order: order, topic: topic, token: token,
		pub: pub, tail: tr, logw: logw, subgraph: sg,
		stats:  routerStats(rp.Base),
		after:  func(ctx context.Context) map[string]float64 { v, _ := scrapeMetrics(ctx, rp.Base+"/metrics"); return v },
		exited: rp.Exited,
	})
	if serr := rp.Stop(); serr != nil && err == nil {
		err = fmt.Errorf("router: %w", serr)
	}
	if err != nil {
		return nil, fmt.Errorf("router: %w; router log:\n%.4000s", err, rp.LogText())
	}

	if o.floor {
		fmt.Fprintf(logw, "floor: starting (load %s)\n", proc.LoadAverage())
		ordersURL := ""
		if o.selection == "order" {
			ordersURL = sg.url
		}
		fp, err := startFloor(ctx, filepath.Join(dir, "floor.log"), st, topic, ordersURL)
		if err != nil {
			return nil, err
		}
		res.floor, err = measureSide(ctx, o, sideEnv{
			name: "floor", base: fp.base, pid: fp.pid(), runID: runID, user: user, order: order, topic: topic,
			pub: pub, tail: tr, logw: logw, stats: fp.stats, subgraph: sg,
			exited: fp.exited,
		})
		if serr := fp.stop(); serr != nil && err == nil {
			err = fmt.Errorf("floor: %w", serr)
		}
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
	}
	for _, s := range []*side{res.router, res.floor} {
		if s == nil {
			continue
		}
		for k := range s.events {
			id := measuredID(runID, s.name, k)
			if at, ok := tr.at(id); ok {
				res.brokerHop = append(res.brokerHop, at.Sub(s.events[k].sent))
			}
		}
	}
	slices.Sort(res.brokerHop)
	res.loadEnd = proc.LoadAverage()
	return res, nil
}

func warmupID(runID, side string, r int) string { return fmt.Sprintf("%s-%s-w%d", runID, side, r) }
func measuredID(runID, side string, k int) string {
	return fmt.Sprintf("%s-%s-e%d", runID, side, k)
}

// serverStats are what a server says about itself.
type serverStats struct {
	active                int64
	goroutines, heapInuse float64
}

// routerStats reads them from the router's /metrics.
func routerStats(base string) func(context.Context) (serverStats, error) {
	return func(ctx context.Context) (serverStats, error) {
		v, err := scrapeMetrics(ctx, base+"/metrics")
		return serverStats{active: int64(v["herald_router_subscriptions_active"]), goroutines: v["go_goroutines"], heapInuse: v["go_memstats_heap_inuse_bytes"]}, err
	}
}

// sideEnv is what measureSide needs of one server.
type sideEnv struct {
	name, base, runID, user, order, topic string
	token                                 string // subscribers' bearer token ("" none)
	pid                                   int
	pub                                   stream.Publisher
	tail                                  *tailRecorder
	subgraph                              *benchSubgraph
	logw                                  io.Writer
	// stats reads the server's own count of subscriptions and its Go
	// runtime figures.
	stats func(context.Context) (serverStats, error)
	// after reads the server's metrics after the events (router only).
	after  func(context.Context) map[string]float64
	exited func() bool
}

func (s sideEnv) publish(ctx context.Context, id string) (sent time.Time, ack time.Duration, err error) {
	sent = time.Now()
	m, err := encodeStatus(s.topic, statusEvent(s.runID, id, s.user, s.order, sent))
	if err != nil {
		return sent, 0, err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = s.pub.Publish(pctx, m)
	return sent, time.Since(sent), err
}

// measureSide opens the subscribers on one server, waits until all are
// registered, publishes the events one at a time and measures.
func measureSide(ctx context.Context, o options, env sideEnv) (*side, error) {
	s := &side{name: env.name, loadBefore: proc.LoadAverage()}
	mem, err := proc.ReadMemory(env.pid)
	if err != nil {
		return nil, err
	}
	s.rssReady = mem.RSS
	if s.ready, err = env.stats(ctx); err != nil {
		return nil, err
	}
	nWS, _ := o.split()
	var ids []string
	for r := range maxBarrierRounds {
		ids = append(ids, warmupID(env.runID, env.name, r))
	}
	for k := range o.events {
		ids = append(ids, measuredID(env.runID, env.name, k))
	}
	f := newFleet(o.subscribers, nWS, env.user, ids)
	f.token = env.token
	f.withOrder = o.selection == "order"
	cctx, stopClients := context.WithCancel(ctx)
	var clients sync.WaitGroup
	defer func() {
		stopClients()
		done := make(chan struct{})
		go func() { clients.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			fmt.Fprintf(env.logw, "%s: clients did not all stop within 60s\n", env.name)
		}
	}()

	t0 := time.Now()
	deadline := t0.Add(o.registerTimeout)
	if err := f.connect(cctx, env.base, o.dialConcurrency, &clients); err != nil {
		return nil, fmt.Errorf("open subscribers: %w", err)
	}
	s.connect = time.Since(t0)
	fmt.Fprintf(env.logw, "%s: %d subscribers connected in %s\n", env.name, o.subscribers, s.connect.Round(time.Millisecond))

	// Registered, step 1: the server counts every subscription as active.
	for {
		st, err := env.stats(ctx)
		n := st.active
		if err == nil && n >= int64(o.subscribers) {
			break
		}
		if env.exited() {
			return nil, errors.New("server exited while subscribers connected")
		}
		if c := f.closed.Load(); c > 0 {
			return nil, fmt.Errorf("%d subscriber streams ended while registering: %s", c, f.firstErr)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the server counts %d of %d subscriptions active after %s (%v)", n, o.subscribers, o.registerTimeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Step 2, a barrier: an event that every subscriber receives. A
	// subscription counted active may not be attached to the stream yet
	// (the router's engine adds it to its trigger asynchronously), so
	// warm-up events are published until one reaches every subscriber.
	// Events on one topic key arrive in order, so once warm-up r reached
	// everybody no earlier warm-up is still on its way.
	for r := range maxBarrierRounds {
		s.barrierRounds = r + 1
		if _, _, err := env.publish(ctx, warmupID(env.runID, env.name, r)); err != nil {
			return nil, fmt.Errorf("publish warm-up: %w", err)
		}
		wait := min(time.Until(deadline), barrierRoundWait)
		select {
		case <-f.full[r]:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(max(wait, 0)):
		}
		got := f.counts[r].Load()
		if r == 0 {
			s.firstRoundReached = int(got)
		}
		if got == int32(o.subscribers) {
			break
		}
		fmt.Fprintf(env.logw, "%s: warm-up event %d reached %d of %d subscribers within %s\n", env.name, r, got, o.subscribers, barrierRoundWait)
		if r == maxBarrierRounds-1 || time.Now().After(deadline) {
			return nil, fmt.Errorf("warm-up event %d reached %d of %d subscribers: not all registered", r, f.counts[r].Load(), o.subscribers)
		}
	}
	s.register = time.Since(t0)
	if mem, err = proc.ReadMemory(env.pid); err != nil {
		return nil, err
	}
	s.rssRegistered = mem.RSS
	if s.registered, err = env.stats(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(env.logw, "%s: all registered in %s (%d barrier round(s)); publishing %d events\n", env.name, s.register.Round(time.Millisecond), s.barrierRounds, o.events)

	cpu0, err := proc.ReadCPU(env.pid)
	if err != nil {
		return nil, err
	}
	self0, err := proc.ReadCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	fetches0 := env.subgraph.entityFetches.Load()
	w0 := time.Now()
	sent := make([]time.Time, o.events)
	s.events = make([]eventResult, o.events)
	for k := range o.events {
		idx := maxBarrierRounds + k
		var err error
		sent[k], s.events[k].ack, err = env.publish(ctx, measuredID(env.runID, env.name, k))
		if err != nil {
			return nil, fmt.Errorf("publish event %d: %w", k, err)
		}
		select {
		case <-f.full[idx]:
		case <-time.After(o.eventTimeout):
			fmt.Fprintf(env.logw, "%s: event %d reached %d of %d subscribers within %s\n", env.name, k, f.counts[idx].Load(), o.subscribers, o.eventTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.window = time.Since(w0)
	cpu1, err := proc.ReadCPU(env.pid)
	if err != nil {
		return nil, err
	}
	s.cpu = cpu1 - cpu0
	s.fetches = env.subgraph.entityFetches.Load() - fetches0
	self1, err := proc.ReadCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	s.benchCPU = self1 - self0
	if mem, err = proc.ReadMemory(env.pid); err != nil {
		return nil, err
	}
	s.rssAfter, s.hwm = mem.RSS, mem.Peak
	if env.after != nil {
		s.metrics = env.after(ctx)
	}
	s.loadAfter = proc.LoadAverage()

	for k := range o.events {
		e := &s.events[k]
		e.sent = sent[k]
		for i := range o.subscribers {
			d, ok := f.latency(maxBarrierRounds+k, i, sent[k])
			if !ok {
				continue
			}
			e.received++
			e.all = append(e.all, d)
			if i < nWS {
				e.ws = append(e.ws, d)
			} else {
				e.ss = append(e.ss, d)
			}
		}
		slices.Sort(e.all)
		slices.Sort(e.ws)
		slices.Sort(e.ss)
	}
	f.check()
	f.mu.Lock()
	s.errs, s.dups, s.unknown, s.firstErr = f.errs, f.dups, f.unknown, f.firstErr
	f.mu.Unlock()
	return s, nil
}

// scrapeMetrics reads a Prometheus text page's unlabelled samples.
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
