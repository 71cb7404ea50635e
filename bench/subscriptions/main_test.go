package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/bench/internal/routerproc"
)

// TestMain also serves as the floor server when the harness re-executes the
// test binary for it.
func TestMain(m *testing.M) {
	if os.Getenv(floorEnv) == "1" {
		os.Exit(floorMain(os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestEveryEventReachesEverySubscriber runs the whole harness with a few
// subscribers on both transports: embedded NATS JetStream (or
// HERALD_TEST_NATS_URL), the router binary built from this tree, and the
// floor, for both selections. It proves the instrument: every subscriber of
// each server received every event exactly once, with a clean payload for
// its user (and, with -selection order, the subgraph's order). There is no
// skip: missing infrastructure fails the test.
func TestEveryEventReachesEverySubscriber(t *testing.T) {
	bin := buildRouterOnce(t)
	for _, selection := range []string{"status", "order"} {
		t.Run(selection, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			o := options{subscribers: 6, transport: "both", selection: selection, events: 3, stream: "nats", floor: true,
				routerBin: bin, eventTimeout: 30 * time.Second, registerTimeout: time.Minute, dialConcurrency: 4}
			var logs bytes.Buffer
			res, err := benchmark(ctx, o, os.Getenv, &logs)
			if err != nil {
				t.Fatalf("benchmark: %v\n%s", err, logs.String())
			}
			for _, s := range []*side{res.router, res.floor} {
				if s == nil {
					t.Fatal("a side was not measured")
				}
				if s.errs != 0 || s.dups != 0 || s.unknown != 0 {
					t.Errorf("%s: %d errors (first: %s), %d duplicates, %d unknown messages", s.name, s.errs, s.firstErr, s.dups, s.unknown)
				}
				if len(s.events) != o.events {
					t.Fatalf("%s: %d events measured, want %d", s.name, len(s.events), o.events)
				}
				for k, e := range s.events {
					if e.received != o.subscribers || len(e.ws) != 3 || len(e.ss) != 3 {
						t.Errorf("%s event %d: received by %d (%d ws, %d sse), want %d (3, 3)", s.name, k, e.received, len(e.ws), len(e.ss), o.subscribers)
					}
					for _, d := range e.all {
						if d <= 0 || d > o.eventTimeout {
							t.Errorf("%s event %d: latency %s out of range", s.name, k, d)
						}
					}
				}
				if s.rssRegistered <= 0 || s.hwm < s.rssAfter {
					t.Errorf("%s: RSS figures %d / %d / %d", s.name, s.rssRegistered, s.rssAfter, s.hwm)
				}
			}
			if !res.complete() {
				t.Error("result not complete")
			}
			if got := res.router.metrics["herald_router_subscriptions_active"]; got != float64(o.subscribers) {
				t.Errorf("router gauge after the events = %v, want %d", got, o.subscribers)
			}
			wantFloorFetches := int64(0)
			if selection == "order" {
				wantFloorFetches = int64(o.events)
				if res.router.fetches < int64(o.events) {
					t.Errorf("router made %d order fetches for %d events", res.router.fetches, o.events)
				}
			} else if res.router.fetches != 0 {
				t.Errorf("router made %d order fetches; the status selection needs none", res.router.fetches)
			}
			if res.floor.fetches != wantFloorFetches {
				t.Errorf("floor made %d order fetches, want %d", res.floor.fetches, wantFloorFetches)
			}
			out := render(o, res)
			if !regexp.MustCompile(`\| every subscriber received every event \| yes \(3 × 6\) \| yes \(3 × 6\) \|`).MatchString(out) {
				t.Errorf("report does not say every subscriber received every event:\n%s", out)
			}
			t.Logf("\n%s", out)
		})
	}
}

// buildRouterOnce builds ./cmd/router for the tests of this package.
func buildRouterOnce(t *testing.T) string {
	t.Helper()
	var logs bytes.Buffer
	bin, err := routerproc.Build(context.Background(), t.TempDir(), &logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	return bin
}

// TestFleetAccounting checks the receive bookkeeping on its own: a missing
// subscriber, a duplicate, a message of another run and a payload for the
// wrong user are all caught.
func TestFleetAccounting(t *testing.T) {
	f := newFleet(3, 2, "u1", []string{"a", "b"})
	msg := func(id, user string) []byte {
		return []byte(`{"id":"1","type":"next","payload":{"data":{"notificationStatus":{"notificationId":"` + id +
			`","userId":"` + user + `","channel":"EMAIL","status":"PENDING"}}}}`)
	}
	now := time.Now()
	f.received(0, now, msg("a", "u1"), true)
	f.received(1, now, msg("a", "u1"), true)
	f.received(1, now, msg("a", "u1"), true) // duplicate
	f.received(2, now, []byte(`{"data":{"notificationStatus":{"notificationId":"a","userId":"u2","channel":"EMAIL","status":"PENDING"}}}`), false)
	f.received(0, now, msg("zzz", "u1"), true) // another run's event
	f.received(0, now, msg("b", "u1"), true)
	select {
	case <-f.full[0]:
	default:
		t.Error("event a reached all 3 clients, but its channel is not closed")
	}
	select {
	case <-f.full[1]:
		t.Error("event b reached 1 of 3 clients, but its channel is closed")
	default:
	}
	if _, ok := f.latency(1, 2, now); ok {
		t.Error("client 2 has a latency for event b it never received")
	}
	if d, ok := f.latency(0, 0, now.Add(-time.Millisecond)); !ok || d < time.Millisecond {
		t.Errorf("latency = %s, %v; want ≥ 1ms", d, ok)
	}
	f.check()
	if f.dups != 1 || f.unknown != 1 || f.errs != 1 || !strings.Contains(f.firstErr, "u2") {
		t.Errorf("dups %d, unknown %d, errs %d (%s); want 1, 1, 1 naming u2", f.dups, f.unknown, f.errs, f.firstErr)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-subscribers", "0"}, "-subscribers must be in [1, 50000]"},
		{[]string{"-transport", "grpc"}, "-transport must be ws, sse or both"},
		{[]string{"-events", "0"}, "-events must be in [1, 1000]"},
		{[]string{"-stream", "redis"}, "-stream must be nats or kafka"},
		{[]string{"-selection", "everything"}, "-selection must be status or order"},
		{[]string{"-events", "0", "-transport", "x"}, "-transport must be ws, sse or both; -events must be in [1, 1000]"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tt.args, os.Getenv, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit code %d, want 2", tt.args, code)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: stderr %q does not mention %q", tt.args, stderr.String(), tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tt := range []struct {
		transport  string
		n, ws, sse int
	}{{"ws", 5, 5, 0}, {"sse", 5, 0, 5}, {"both", 5, 3, 2}} {
		ws, sse := options{subscribers: tt.n, transport: tt.transport}.split()
		if ws != tt.ws || sse != tt.sse {
			t.Errorf("%s %d: split %d/%d, want %d/%d", tt.transport, tt.n, ws, sse, tt.ws, tt.sse)
		}
	}
}
