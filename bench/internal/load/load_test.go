package load

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var r Result
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, ms(i))
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, ms(50)}, {99, ms(99)}, {100, ms(100)}, {0.1, ms(1)}}
	for _, tt := range tests {
		if got := r.Percentile(tt.p); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := (Result{}).Percentile(50); got != 0 {
		t.Errorf("empty Percentile = %v, want 0", got)
	}
}

// TestRunCountsErrors runs a server that fails every third request and
// answers a wrong body every fifth: Run must count both kinds and keep the
// successes' latencies only.
func TestRunCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch i := n.Add(1); {
		case i%3 == 0:
			http.Error(w, "boom", http.StatusBadGateway)
		case i%5 == 0:
			_, _ = w.Write([]byte(`{"data":"wrong"}`))
		default:
			_, _ = w.Write([]byte(`{"data":"ok"}`))
		}
	}))
	defer srv.Close()
	tg := Target{URL: srv.URL, Body: []byte(`{}`), Check: func(b []byte) error {
		if string(b) != `{"data":"ok"}` {
			return errors.New("unexpected body")
		}
		return nil
	}}
	// A run lasts a fixed time, so how many requests fit in it depends on
	// the machine: on a loaded one, run again for longer until enough did
	// (every run is checked the same way below).
	var r Result
	for d := 200 * time.Millisecond; ; d *= 2 {
		n.Store(0)
		var err error
		if r, err = Run(context.Background(), tg, Options{Concurrency: 3, Duration: d}); err != nil {
			t.Fatal(err)
		}
		if r.Requests >= 15 || d >= 10*time.Second {
			break
		}
	}
	if int64(r.Requests) != n.Load() {
		t.Errorf("Requests = %d, server saw %d", r.Requests, n.Load())
	}
	if r.Requests < 15 || r.Errors == 0 || r.Errors == r.Requests {
		t.Fatalf("Requests %d, Errors %d: want some of each", r.Requests, r.Errors)
	}
	if len(r.Latencies) != r.Requests-r.Errors {
		t.Errorf("%d latencies for %d successes", len(r.Latencies), r.Requests-r.Errors)
	}
	if !strings.Contains(r.FirstError, "HTTP 502") && !strings.Contains(r.FirstError, "unexpected body") {
		t.Errorf("FirstError = %q", r.FirstError)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	_, err := Run(context.Background(), Target{URL: "http://10.1.2.3/graphql"}, Options{Concurrency: 1, Duration: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}
