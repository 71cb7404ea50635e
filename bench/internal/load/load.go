// Package load is a closed-loop HTTP load generator: a fixed number of
// workers each send one request, wait for the whole response, and send the
// next, for a bounded time. Fixed concurrency (rather than a fixed arrival
// rate) measures the throughput a server sustains and the latency at that
// throughput, and cannot pile up unbounded work on a saturated machine.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Target is the one request every worker repeats: a JSON POST.
type Target struct {
	URL  string
	Body []byte
	// Header is sent with every request (an Authorization, say).
	Header http.Header
	// Check judges a 200 response body; nil accepts any.
	Check func(body []byte) error
}

// Options bound a run.
type Options struct {
	Concurrency int
	Duration    time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
}

// Result is what one run measured.
type Result struct {
	Requests int // completed, including failed ones
	Errors   int
	// FirstError describes the first failure, for the report.
	FirstError string
	Elapsed    time.Duration
	// Latencies of the successful requests, sorted.
	Latencies []time.Duration
}

// RPS is successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile latency (0 < p <= 100) by the
// nearest-rank method, or 0 without samples.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100+0.5) - 1
	return r.Latencies[min(max(rank, 0), n-1)]
}

// NewClient returns a keep-alive client sized for concurrency connections to
// one host. Only loopback targets are accepted by Run.
func NewClient(concurrency int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// CheckLoopback refuses any URL whose host is not a loopback IP address: the
// benchmark must never send load anywhere else.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("load target %s is not a loopback address", raw)
	}
	return nil
}

// Do sends the target's request once and returns the body of a 200 response.
func Do(ctx context.Context, client *http.Client, t Target, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return err
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
	}
	if t.Check != nil {
		return t.Check(buf.Bytes())
	}
	return nil
}

// Run drives t with o.Concurrency workers for o.Duration (or until ctx
// ends). Requests in flight at the deadline complete and are counted.
func Run(ctx context.Context, t Target, o Options) (Result, error) {
	if o.Concurrency < 1 || o.Duration <= 0 {
		return Result{}, errors.New("load: concurrency and duration must be positive")
	}
	if err := CheckLoopback(t.URL); err != nil {
		return Result{}, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	client := NewClient(o.Concurrency, o.Timeout)
	defer client.CloseIdleConnections()

	type worker struct {
		lat      []time.Duration
		requests int
		errors   int
		firstErr error
		end      time.Time
	}
	workers := make([]worker, o.Concurrency)
	start := time.Now()
	deadline := start.Add(o.Duration)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.lat = make([]time.Duration, 0, 4096)
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := Do(ctx, client, t, &buf)
				w.end = time.Now()
				w.requests++
				if err != nil {
					if ctx.Err() != nil {
						w.requests-- // cut short by cancellation: not a server failure
						break
					}
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
					continue
				}
				w.lat = append(w.lat, w.end.Sub(t0))
			}
		})
	}
	wg.Wait()

	var r Result
	end := start
	for _, w := range workers {
		r.Requests += w.requests
		r.Errors += w.errors
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
		if w.end.After(end) {
			end = w.end
		}
		r.Latencies = append(r.Latencies, w.lat...)
	}
	r.Elapsed = end.Sub(start)
	slices.Sort(r.Latencies)
	return r, ctx.Err()
}
