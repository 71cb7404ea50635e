package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/bench/internal/proc"
	table "github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/testenv"
)

// orderResult is one createOrder call and its email.
type orderResult struct {
	sent
	Arrived time.Time // mailpit's receive time of the first email
	Emails  int
}

// rateResult is what one rate measured.
type rateResult struct {
	Target       float64
	Duration     time.Duration
	Orders       int // calls scheduled
	OK           int
	Errors       int
	FirstErr     error
	Achieved     float64 // orders created per second
	Missing      int     // created orders whose email never came
	Duplicates   int     // orders with more than one email
	E2E          latencies
	Create       latencies
	MaxBacklog   int
	Growth       float64       // backlog slope in the second half of the load, orders/s
	LastAfterEnd time.Duration // last email's arrival after the load stopped
	KeptUp       bool
	Why          string
	Stages       []stage
	StagesErr    error
	CPU          map[string]float64 // process → cores used during load and drain
	// CPUPerOrder is process → CPU milliseconds per created order, for
	// Herald's services and the infrastructure (broker, PostgreSQL with
	// its backends, mail catcher) when this process can see them.
	CPUPerOrder map[string]float64
	MachineBusy float64   // share of all cores busy during load and drain
	SMTP        histogram // notifier's email send durations during load and drain
}

// sendDurationMetric is the notifier's histogram of one send attempt.
const sendDurationMetric = "herald_notifier_send_duration_seconds"

func runRate(ctx context.Context, o options, c *testenv.GraphQLClient, watch *mailWatch, st *stack, inf *infra, dsn map[string]string, rate float64, d time.Duration, users []string, log io.Writer) rateResult {
	res := rateResult{Target: rate, Duration: d}
	cpu0 := map[string]time.Duration{}
	for _, n := range table.Names() {
		cpu0[n] = processCPU(st.Proc(n).PID())
	}
	for n, pid := range inf.pids {
		cpu0[n], _ = proc.TreeCPU(pid)
	}
	busy0, total0 := machineCPU()
	wall0 := time.Now()
	metricsURL := st.URL("notifier", "/metrics")
	smtpSeries := map[string]string{"channel": "email", "outcome": "sent"}
	smtp0, smtpErr := scrapeHistogram(ctx, metricsURL, sendDurationMetric, smtpSeries)

	var mu sync.Mutex
	var answered []string // order ids answered so far
	onResp := func(s sent) {
		mu.Lock()
		answered = append(answered, s.OrderID)
		mu.Unlock()
	}
	backlog := func() int {
		mu.Lock()
		ids := append([]string(nil), answered...)
		mu.Unlock()
		n := 0
		for _, id := range ids {
			if t, _ := watch.arrival(id); t.IsZero() {
				n++
			}
		}
		return n
	}
	var samples []backlogSample
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
				b := backlog()
				samples = append(samples, backlogSample{At: time.Since(t0), Backlog: b})
			}
		}
	}()

	calls := openLoop(ctx, c, users, rate, d, o.maxInFlight, onResp)
	loadEnd := t0.Add(d)

	// Wait for the emails of every created order, for at most the drain.
	deadline := time.Now().Add(o.drain)
	for ctx.Err() == nil && time.Now().Before(deadline) && backlog() > 0 {
		time.Sleep(o.poll)
	}
	_ = watch.poll(ctx) // one last read of everything that came
	stopSampling()
	<-sampled

	wall := time.Since(wall0)
	res.CPU, res.CPUPerOrder = map[string]float64{}, map[string]float64{}
	used := map[string]time.Duration{}
	for _, n := range table.Names() {
		used[n] = processCPU(st.Proc(n).PID()) - cpu0[n]
	}
	for n, pid := range inf.pids {
		if c, err := proc.TreeCPU(pid); err == nil {
			used[n] = c - cpu0[n]
		}
	}
	for n, c := range used {
		res.CPU[n] = c.Seconds() / wall.Seconds()
	}
	if busy1, total1 := machineCPU(); total1 > total0 {
		res.MachineBusy = float64(busy1-busy0) / float64(total1-total0)
	}
	if smtpErr == nil {
		var smtp1 histogram
		if smtp1, smtpErr = scrapeHistogram(ctx, metricsURL, sendDurationMetric, smtpSeries); smtpErr == nil {
			res.SMTP = smtp1.minus(smtp0)
		}
	}
	if smtpErr != nil {
		fmt.Fprintf(log, "pipeline:   notifier send-duration metric unavailable: %v\n", smtpErr)
	}

	res.Orders = len(calls)
	var lastResp time.Time
	var orders []orderResult
	var lastArrival time.Time
	for _, s := range calls {
		or := orderResult{sent: s}
		if s.Err != nil {
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = s.Err
			}
			orders = append(orders, or)
			continue
		}
		res.OK++
		if s.Resp.After(lastResp) {
			lastResp = s.Resp
		}
		res.Create = append(res.Create, s.Resp.Sub(s.Start))
		or.Arrived, or.Emails = watch.arrival(s.OrderID)
		switch {
		case or.Arrived.IsZero():
			res.Missing++
		default:
			res.E2E = append(res.E2E, or.Arrived.Sub(s.Resp))
			if or.Arrived.After(lastArrival) {
				lastArrival = or.Arrived
			}
			if or.Emails > 1 {
				res.Duplicates++
			}
		}
		orders = append(orders, or)
	}
	window := max(d, lastResp.Sub(t0))
	res.Achieved = float64(res.OK) / window.Seconds()
	if res.OK > 0 {
		for n, c := range used {
			res.CPUPerOrder[n] = float64(c.Microseconds()) / 1000 / float64(res.OK)
		}
	}
	if !lastArrival.IsZero() {
		res.LastAfterEnd = lastArrival.Sub(loadEnd)
	}
	for _, s := range samples {
		res.MaxBacklog = max(res.MaxBacklog, s.Backlog)
	}
	res.Growth = backlogGrowth(samples, d)
	res.KeptUp, res.Why = keptUp(rate, res.Achieved, res.Errors, res.Missing, res.LastAfterEnd, o.settle, samples, d)

	sctx2, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	stamps, err := readStamps(sctx2, dsn["orders"], dsn["notifier"], st.TopicOrderCreated)
	if err != nil {
		res.StagesErr = err
		fmt.Fprintf(log, "pipeline:   stage breakdown unavailable: %v\n", err)
	} else {
		if err := readRecorded(st.Proc("notifier").LogPath, stamps); err != nil {
			fmt.Fprintf(log, "pipeline:   notifier log unreadable: %v\n", err)
		}
		res.Stages = breakdown(orders, stamps)
	}
	return res
}

// processCPU is the user+system CPU time a process has used so far (0 when
// it cannot be read).
func processCPU(pid int) time.Duration {
	d, _ := proc.ReadCPU(pid)
	return d
}

// machineCPU returns the busy and total jiffies of all cores (/proc/stat).
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}
