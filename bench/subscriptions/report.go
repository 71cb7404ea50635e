package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// pct is the p-th percentile of sorted ds by the nearest-rank method.
func pct(ds []time.Duration, p float64) time.Duration {
	n := len(ds)
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100+0.5) - 1
	return ds[min(max(rank, 0), n-1)]
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func latencyCell(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s / %s ms", ms(pct(ds, 50)), ms(pct(ds, 90)), ms(pct(ds, 99)), ms(ds[len(ds)-1]))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func kib(n float64) string { return fmt.Sprintf("%.1f KiB", n/1024) }

func render(o options, r *result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subscription fan-out benchmark, %s; %d CPUs (GOMAXPROCS %d), %s; load average %s at start, %s at end.\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), r.loadStart, r.loadEnd)
	fmt.Fprintf(&b, "Stream: %s. %d subscribers (%d graphql-transport-ws, %d SSE), one connection each, all `notificationStatus(userId:)` of one user,\n", r.stream, r.n, r.nWS, r.nSSE)
	if o.selection == "order" {
		b.WriteString("selecting the status event's fields and `order { id totalMinor currency }` (an Order entity fetch from the bench subgraph in the benchmark process).")
	} else {
		b.WriteString("selecting the status event's own fields only (no `order { … }`: no subgraph fetch).")
	}
	fmt.Fprintf(&b, " %d PENDING events of one order, published one at a time,\n", r.k)
	b.WriteString("each once the previous one reached every subscriber (or -event-timeout passed); latency = publish call → the client read the message.\n")
	fmt.Fprintf(&b, "Registered = the server counts all %d subscriptions active (router: herald_router_subscriptions_active on /metrics), then a warm-up event reached every subscriber.\n", r.n)
	b.WriteString("Floor: a plain Go fan-out server (this binary re-executed) tailing the same topic on the same broker through internal/stream, rendering the same JSON once per event,\n")
	b.WriteString("writing it to each subscriber's queue and connection (same WebSocket library, same SSE framing), to the same clients: what the machine needs to move one event to N sockets, without the GraphQL engine.\n")
	fmt.Fprintf(&b, "Router binary %s. Clients, broker, router and floor share the machine; open-file limit %d.\n\n", r.routerBin, r.nofile)

	cols := []*side{r.router}
	head := "| figure | router |"
	sep := "|---|---|"
	if r.floor != nil {
		cols = append(cols, r.floor)
		head += " floor (plain Go fan-out) |"
		sep += "---|"
	}
	b.WriteString(head + "\n" + sep + "\n")
	row := func(fig string, cell func(s *side) string) {
		b.WriteString("| " + fig + " |")
		for _, s := range cols {
			b.WriteString(" " + cell(s) + " |")
		}
		b.WriteString("\n")
	}
	row("every subscriber received every event", func(s *side) string {
		minRecv := r.n
		for _, e := range s.events {
			minRecv = min(minRecv, e.received)
		}
		if minRecv == r.n && s.errs == 0 && s.dups == 0 {
			return fmt.Sprintf("yes (%d × %d)", r.k, r.n)
		}
		return fmt.Sprintf("**no**: fewest %d of %d", minRecv, r.n)
	})
	row("messages received / expected; duplicates; errors", func(s *side) string {
		return fmt.Sprintf("%d / %d; %d; %d", s.delivered(), r.n*r.k, s.dups, s.errs)
	})
	row("fan-out latency p50 / p90 / p99 / max", func(s *side) string { return latencyCell(s.pooled("all")) })
	if r.nWS > 0 && r.nSSE > 0 {
		row("… graphql-transport-ws subscribers", func(s *side) string { return latencyCell(s.pooled("ws")) })
		row("… SSE subscribers", func(s *side) string { return latencyCell(s.pooled("sse")) })
	}
	row("slowest event's p99 / max", func(s *side) string {
		var p99, mx time.Duration
		for _, e := range s.events {
			if len(e.all) > 0 {
				p99, mx = max(p99, pct(e.all, 99)), max(mx, e.all[len(e.all)-1])
			}
		}
		return fmt.Sprintf("%s / %s ms", ms(p99), ms(mx))
	})
	if o.selection == "order" {
		row("Order entity fetches from the subgraph per event", func(s *side) string {
			return fmt.Sprintf("%.1f", float64(s.fetches)/float64(r.k))
		})
	}
	row("CPU of the server process during the fan-out", func(s *side) string {
		per := time.Duration(0)
		if d := s.delivered(); d > 0 {
			per = s.cpu / time.Duration(d)
		}
		cores := 0.0
		if s.window > 0 {
			cores = s.cpu.Seconds() / s.window.Seconds()
		}
		return fmt.Sprintf("%.2f s in %.2f s (%.2f cores); %.0f µs per delivered message", s.cpu.Seconds(), s.window.Seconds(), cores, float64(per)/float64(time.Microsecond))
	})
	row("CPU of the benchmark process (clients, embedded broker) in the same window", func(s *side) string {
		cores := 0.0
		if s.window > 0 {
			cores = s.benchCPU.Seconds() / s.window.Seconds()
		}
		return fmt.Sprintf("%.2f s (%.2f cores)", s.benchCPU.Seconds(), cores)
	})
	row("RSS ready → all registered → after the events", func(s *side) string {
		return fmt.Sprintf("%s → %s → %s", mib(s.rssReady), mib(s.rssRegistered), mib(s.rssAfter))
	})
	row("**RSS per subscription** (registered − ready) / N", func(s *side) string {
		return "**" + kib(float64(s.rssRegistered-s.rssReady)/float64(r.n)) + "**"
	})
	row("RSS per subscription after the events (after − ready) / N", func(s *side) string {
		return kib(float64(s.rssAfter-s.rssReady) / float64(r.n))
	})
	row("Go heap in use per subscription (registered − ready) / N", func(s *side) string {
		return kib((s.registered.heapInuse - s.ready.heapInuse) / float64(r.n))
	})
	row("goroutines per subscription (registered − ready) / N", func(s *side) string {
		return fmt.Sprintf("%.2f", (s.registered.goroutines-s.ready.goroutines)/float64(r.n))
	})
	row("peak RSS (VmHWM); per subscription over ready", func(s *side) string {
		return fmt.Sprintf("%s; %s", mib(s.hwm), kib(float64(s.hwm-s.rssReady)/float64(r.n)))
	})
	row("all connected / all registered (warm-up events needed; first one reached)", func(s *side) string {
		return fmt.Sprintf("%.1f s / %.1f s (%d; %d of %d)", s.connect.Seconds(), s.register.Seconds(), s.barrierRounds, s.firstRoundReached, r.n)
	})
	row("publish call (broker ack) p50 / max", func(s *side) string {
		var acks []time.Duration
		for _, e := range s.events {
			acks = append(acks, e.ack)
		}
		slices.Sort(acks)
		return fmt.Sprintf("%s / %s ms", ms(pct(acks, 50)), ms(acks[len(acks)-1]))
	})
	row("closed SUBSCRIBER_TOO_SLOW / messages dropped", func(s *side) string {
		if s.metrics == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.0f / %.0f", s.metrics["herald_router_subscriptions_too_slow_total"], s.metrics["herald_router_subscription_messages_dropped_total"])
	})
	row("load average before / after", func(s *side) string { return s.loadBefore + " / " + s.loadAfter })
	if len(r.brokerHop) > 0 {
		fmt.Fprintf(&b, "\nBroker hop, the floor under both: publish call → the benchmark's own tail consumer of the topic, p50 / max over %d events: %s / %s ms.\n",
			len(r.brokerHop), ms(pct(r.brokerHop, 50)), ms(r.brokerHop[len(r.brokerHop)-1]))
	}

	b.WriteString("\nPer event (received; p50 / p99 / max ms):\n\n| event |")
	for _, s := range cols {
		fmt.Fprintf(&b, " %s |", s.name)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for k := range r.k {
		fmt.Fprintf(&b, "| %d |", k+1)
		for _, s := range cols {
			e := s.events[k]
			if len(e.all) == 0 {
				fmt.Fprintf(&b, " %d; – |", e.received)
				continue
			}
			fmt.Fprintf(&b, " %d; %s / %s / %s |", e.received, ms(pct(e.all, 50)), ms(pct(e.all, 99)), ms(e.all[len(e.all)-1]))
		}
		b.WriteString("\n")
	}
	var errs []string
	for _, s := range cols {
		if s.firstErr != "" {
			errs = append(errs, fmt.Sprintf("%s: %s", s.name, s.firstErr))
		}
		if s.unknown > 0 {
			errs = append(errs, fmt.Sprintf("%s: %d messages for events not of this run", s.name, s.unknown))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nErrors:\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}
