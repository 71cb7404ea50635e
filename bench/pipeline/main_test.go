package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

func TestPercentile(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := l.pct(tt.p); got != tt.want {
			t.Errorf("pct(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := (latencies{}).pct(50); got != 0 {
		t.Errorf("empty pct = %v", got)
	}
}

func TestOrderTokens(t *testing.T) {
	for _, tt := range []struct {
		subject string
		want    []string
	}{
		{"Order 01a21748-2c74-738f-a138-374ad7876cdc confirmed", []string{"01a21748-2c74-738f-a138-374ad7876cdc"}},
		{"Bestellung #01a21748-2c74-738f-a138-374ad7876cdc bestätigt.", []string{"01a21748-2c74-738f-a138-374ad7876cdc"}},
		{"Welcome to Herald", nil},
	} {
		if got := orderTokens(tt.subject); !slices.Equal(got, tt.want) {
			t.Errorf("orderTokens(%q) = %q, want %q", tt.subject, got, tt.want)
		}
	}
}

func TestKeptUp(t *testing.T) {
	flat := []backlogSample{{5 * time.Second, 3}, {6 * time.Second, 2}, {8 * time.Second, 3}, {10 * time.Second, 2}}
	growing := []backlogSample{{5 * time.Second, 10}, {6 * time.Second, 20}, {8 * time.Second, 40}, {10 * time.Second, 60}}
	// About 0.8 orders/s: above the limit at 20/s, max(0.5, 0.4).
	creeping := []backlogSample{{5 * time.Second, 1}, {7 * time.Second, 3}, {9 * time.Second, 4}, {10 * time.Second, 5}}
	d := 10 * time.Second
	for _, tt := range []struct {
		name                 string
		achieved             float64
		errors, missing      int
		last                 time.Duration
		samples              []backlogSample
		want                 bool
		wantReasonSubstrings string
	}{
		{"steady", 19.9, 0, 0, time.Second, flat, true, ""},
		{"errors", 20, 2, 0, time.Second, flat, false, "errors"},
		{"slow sender", 15, 0, 0, time.Second, flat, false, "achieved"},
		{"missing mail", 20, 0, 1, time.Second, flat, false, "missing"},
		{"late mail", 20, 0, 0, 30 * time.Second, flat, false, "after the load stopped"},
		{"growing backlog", 20, 0, 0, time.Second, growing, false, "backlog grew"},
		{"creeping backlog", 20, 0, 0, time.Second, creeping, false, "backlog grew"},
	} {
		got, why := keptUp(20, tt.achieved, tt.errors, tt.missing, tt.last, 10*time.Second, tt.samples, d)
		if got != tt.want || !strings.Contains(why, tt.wantReasonSubstrings) {
			t.Errorf("%s: keptUp = %v %q, want %v with %q", tt.name, got, why, tt.want, tt.wantReasonSubstrings)
		}
	}
}

func TestHistogram(t *testing.T) {
	text := `# HELP herald_notifier_send_duration_seconds x
# TYPE herald_notifier_send_duration_seconds histogram
herald_notifier_send_duration_seconds_bucket{channel="email",outcome="sent",le="0.01"} 10
herald_notifier_send_duration_seconds_bucket{channel="email",outcome="sent",le="0.1"} 90
herald_notifier_send_duration_seconds_bucket{channel="email",outcome="sent",le="+Inf"} 100
herald_notifier_send_duration_seconds_sum{channel="email",outcome="sent"} 5
herald_notifier_send_duration_seconds_count{channel="email",outcome="sent"} 100
herald_notifier_send_duration_seconds_bucket{channel="sms",outcome="sent",le="0.01"} 7
herald_notifier_send_duration_seconds_count{channel="sms",outcome="sent"} 7
`
	h, err := parseHistogram(strings.NewReader(text), sendDurationMetric, map[string]string{"channel": "email", "outcome": "sent"})
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 100 || h.Sum != 5 || len(h.Buckets) != 3 {
		t.Fatalf("parsed %+v", h)
	}
	if got := h.mean(); got != 50*time.Millisecond {
		t.Errorf("mean = %v, want 50ms", got)
	}
	// Rank 50 lies halfway (40 of 80) into the (0.01, 0.1] bucket.
	if got := h.quantile(0.5); got != 55*time.Millisecond {
		t.Errorf("p50 = %v, want 55ms", got)
	}
	d := h.minus(histogram{Buckets: map[float64]float64{0.01: 10, 0.1: 10}, Sum: 1, Count: 10})
	if d.Count != 90 || d.Buckets[0.1] != 80 || d.Sum != 4 {
		t.Errorf("minus = %+v", d)
	}
}

// fakeMailbox answers GET /api/v1/messages like mailpit (newest first,
// start/limit paging), so the watcher's paging can be checked without SMTP.
type fakeMailbox struct {
	mu    sync.Mutex
	msgs  []map[string]any // oldest first
	reads int
}

func (f *fakeMailbox) add(id, to, subject string, created time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, map[string]any{"ID": id, "Subject": subject, "Created": created, "To": []map[string]string{{"Address": to}}})
}

func (f *fakeMailbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/messages" {
		http.NotFound(w, r)
		return
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("start"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	f.mu.Lock()
	f.reads++
	var page []map[string]any
	for i := len(f.msgs) - 1 - start; i >= 0 && len(page) < limit; i-- {
		page = append(page, f.msgs[i])
	}
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"messages": page})
}

func TestMailWatch(t *testing.T) {
	box := &fakeMailbox{}
	srv := httptest.NewServer(box)
	defer srv.Close()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// More than two pages, some mail for someone else, one order mailed twice.
	for i := range 2*pageSize + 10 {
		to := "bench-run1-3@example.com"
		if i%7 == 0 {
			to = "other@example.com"
		}
		box.add(fmt.Sprint("m", i), to, fmt.Sprintf("Order order-%04d confirmed", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	box.add("dup", "bench-run1-0@example.com", "Order order-0001 confirmed", t0.Add(time.Hour))
	w := newMailWatch(testenv.MailpitAt("", srv.URL, ""), "bench-run1-")
	ctx := context.Background()
	if err := w.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if at, n := w.arrival("order-0001"); !at.Equal(t0.Add(time.Millisecond)) || n != 2 {
		t.Errorf("order-0001: arrival %v ×%d, want the first (%v) ×2", at, n, t0.Add(time.Millisecond))
	}
	if at, _ := w.arrival("order-0007"); !at.IsZero() {
		t.Errorf("mail to another recipient counted: %v", at)
	}
	if at, n := w.arrival(fmt.Sprintf("order-%04d", 2*pageSize+9)); at.IsZero() || n != 1 {
		t.Errorf("newest order: %v ×%d", at, n)
	}

	// A later poll reads only the new page, not the whole mailbox again.
	box.add("new", "bench-run1-1@example.com", "Order order-new1 confirmed", t0.Add(2*time.Hour))
	box.mu.Lock()
	box.reads = 0
	box.mu.Unlock()
	if err := w.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if at, _ := w.arrival("order-new1"); !at.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("new mail: %v", at)
	}
	if box.reads != 1 {
		t.Errorf("second poll read %d pages, want 1", box.reads)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-rates", "5,10,20", "-duration", "3s", "-stream", "nats", "-env", "notifier:HERALD_DELIVERY_WORKERS=4"}, true},
		{[]string{"-rates", "10,5"}, false},
		{[]string{"-rates", "x"}, false},
		{[]string{"-stream", "redis"}, false},
		{[]string{"-env", "notifier:FOO=1"}, false},
		{[]string{"extra"}, false},
	} {
		o, err := parseFlags(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q): err = %v, want ok %v", tt.args, err, tt.ok)
		}
		if err == nil && len(tt.args) > 6 && o.extra["notifier"]["HERALD_DELIVERY_WORKERS"] != "4" {
			t.Errorf("-env not kept: %v", o.extra)
		}
	}
}
