package main

import (
	"fmt"
	"strings"
	"time"
)

type report struct {
	opts                  options
	started               time.Time
	loadBefore, loadAfter string
	given                 []string
	pg                    []commitRate
	broker                []roundTrip
	rates                 []rateResult
}

// sustained returns the highest rate that kept up, and whether one did.
func (r *report) sustained() (rateResult, bool) {
	var best rateResult
	ok := false
	for _, x := range r.rates {
		if x.KeptUp && (!ok || x.Target > best.Target) {
			best, ok = x, true
		}
	}
	return best, ok
}

// slowestStage names the stage with the largest median at rate x (the
// createOrder call is outside the end-to-end figure and not counted).
func slowestStage(x rateResult) (stage, bool) {
	var best stage
	ok := false
	for _, s := range x.Stages[1:] {
		if len(s.Lat) == 0 || strings.HasPrefix(s.Name, "(") {
			continue
		}
		if !ok || s.Lat.pct(50) > best.Lat.pct(50) {
			best, ok = s, true
		}
	}
	return best, ok
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	o := r.opts
	p("## Pipeline\n\n")
	p("End to end: `createOrder` through the router → orders commit + outbox → relay → %s → notifier → SMTP (mailpit, STARTTLS). "+
		"Latency runs from the createOrder response to mailpit's own receive timestamp of the email (same machine clock, so the mailpit poll interval adds nothing). "+
		"Load is open loop: orders are sent on a fixed schedule whatever the answers do.\n\n", map[string]string{"kafka": "Kafka", "nats": "NATS JetStream"}[o.stream])
	p("- Command: `%s`\n", o.command)
	p("- Machine: 2 cores, 24 GiB; load average (1/5/15 min) %s before, %s after; %s\n", r.loadBefore, r.loadAfter, r.started.UTC().Format("2006-01-02 15:04 UTC"))
	brokerLabel := map[string]string{"kafka": "Kafka", "nats": "NATS (embedded in the benchmark process)"}[o.stream]
	infraNote := brokerLabel + ", PostgreSQL and mailpit started by the run"
	if len(r.given) > 0 {
		infraNote = "taken from HERALD_TEST_*: " + strings.Join(r.given, ", ") + "; the rest started by the run"
	}
	p("- Infrastructure: %s; one PostgreSQL database per service; service binaries built from the tree; %d users; %s per rate after a %s warm-up\n", infraNote, o.users, o.duration, o.warmup)
	p("- A rate *kept up* when no createOrder failed, the achieved rate was within 5%% of the target, every email arrived within %s after the load stopped, and the backlog (answered orders still without email, sampled every 0.5 s) grew by less than max(0.5, 2%% of the rate) orders/s over the second half of the load (least-squares slope)\n\n", o.settle)

	p("### Per rate\n\n")
	p("| target orders/s | achieved orders/s | end-to-end p50 ms | end-to-end p99 ms | createOrder p50 / p99 ms | errors | emails missing | duplicates | max backlog | backlog growth /s | kept up |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, x := range r.rates {
		kept := "yes"
		if !x.KeptUp {
			kept = "**no**: " + x.Why
		}
		p("| %.0f | %.1f | %s | %s | %s / %s | %d | %d | %d | %d | %.2f | %s |\n", x.Target, x.Achieved, ms(x.E2E.pct(50)), ms(x.E2E.pct(99)),
			ms(x.Create.pct(50)), ms(x.Create.pct(99)), x.Errors, x.Missing, x.Duplicates, x.MaxBacklog, x.Growth, kept)
	}
	best, ok := r.sustained()
	if ok {
		p("\n**Highest sustained rate: %.0f orders/s** (the highest tested rate that kept up", best.Target)
		if len(r.rates) > 0 && r.rates[len(r.rates)-1].KeptUp {
			p("; every tested rate kept up, so the ceiling is higher")
		}
		p(").\n\n")
	} else {
		p("\n**No tested rate kept up.**\n\n")
	}
	for _, x := range r.rates {
		if x.FirstErr != nil {
			p("First createOrder error at %.0f/s: `%v`\n\n", x.Target, x.FirstErr)
		}
	}

	p("### Beside the floors (same run, same broker and database server)\n\n")
	low := rateResult{}
	if len(r.rates) > 0 {
		low = r.rates[0]
	}
	ref := low
	if ok {
		ref = best
	}
	var rt, rt0 roundTrip
	if len(r.broker) > 0 {
		rt = r.broker[0]
		rt0 = rt
		if len(r.broker) > 1 {
			rt0 = r.broker[1]
		}
	}
	var pg1, pg8 commitRate
	if len(r.pg) > 1 {
		pg1, pg8 = r.pg[0], r.pg[1]
	}
	brokerName := "Kafka"
	if o.stream == "nats" {
		brokerName = "JetStream"
	}
	p("| pipeline figure | pipeline | floor | floor figure |\n|---|---:|---:|---|\n")
	p("| end-to-end p50 at %.0f/s | %s ms | %s ms | %s produce→consume round trip p50 (%s) |\n", low.Target, ms(low.E2E.pct(50)), ms(rt.RoundTrip.pct(50)), brokerName, rt.Label)
	p("| end-to-end p99 at %.0f/s | %s ms | %s ms | %s produce→consume round trip p99 |\n", low.Target, ms(low.E2E.pct(99)), ms(rt.RoundTrip.pct(99)), brokerName)
	if ok {
		p("| end-to-end p50 / p99 at %.0f/s (highest sustained) | %s / %s ms | %s / %s ms | same round trip p50 / p99 |\n", best.Target, ms(best.E2E.pct(50)), ms(best.E2E.pct(99)), ms(rt.RoundTrip.pct(50)), ms(rt.RoundTrip.pct(99)))
	}
	ackNote := "acks=all, idempotent"
	if o.stream == "nats" {
		ackNote = "synchronous JetStream publish"
	}
	if st := stageOf(ref, 1); st != nil {
		p("| outbox relay publish p50 / p99 at %.0f/s | %s / %s ms | %s / %s ms | %s produce ack p50 / p99 (%s) |\n", ref.Target, ms(st.Lat.pct(50)), ms(st.Lat.pct(99)), ms(rt.Ack.pct(50)), ms(rt.Ack.pct(99)), brokerName, ackNote)
	}
	if st := stageOf(ref, 2); st != nil {
		p("| broker → notifier p50 / p99 at %.0f/s | %s / %s ms | %s / %s ms | %s produce→consume round trip p50 / p99 (bounds the consume leg from above) |\n", ref.Target, ms(st.Lat.pct(50)), ms(st.Lat.pct(99)),
			ms(rt.RoundTrip.pct(50)), ms(rt.RoundTrip.pct(99)), brokerName)
	}
	if o.stream == "kafka" && len(r.broker) > 1 {
		p("| (floor variant) | | %s / %s ms | Kafka produce ack p50 / p99 with %s |\n", ms(rt0.Ack.pct(50)), ms(rt0.Ack.pct(99)), rt0.Label)
	}
	p("| createOrder p50 at %.0f/s | %s ms | %s ms | PostgreSQL BEGIN+INSERT+COMMIT p50, 1 connection |\n", ref.Target, ms(ref.Create.pct(50)), ms(pg1.Latency.pct(50)))
	sus := "none"
	if ok {
		sus = fmt.Sprintf("%.0f", best.Target)
	}
	p("| highest sustained orders/s | %s | %.0f | PostgreSQL single-row commits/s, 1 connection, serial |\n", sus, pg1.PerSec)
	p("| | | %.0f | PostgreSQL single-row commits/s, 8 connections |\n", pg8.PerSec)
	p("| | | %.0f | %s serial round trips/s (%s) |\n\n", rt.Throughput, brokerName, rt.Label)

	p("Floors in detail:\n\n| floor | samples | p50 ms | p99 ms | per second |\n|---|---:|---:|---:|---:|\n")
	for _, c := range r.pg {
		p("| PostgreSQL BEGIN+INSERT+COMMIT, %d connection(s) | %d | %s | %s | %.0f commits |\n", c.Conns, c.Commits, ms(c.Latency.pct(50)), ms(c.Latency.pct(99)), c.PerSec)
	}
	for _, t := range r.broker {
		p("| %s produce ack, %s | %d | %s | %s | |\n", brokerName, t.Label, t.Records, ms(t.Ack.pct(50)), ms(t.Ack.pct(99)))
		p("| %s produce→consume round trip, %s | %d | %s | %s | %.0f serial |\n", brokerName, t.Label, t.Records, ms(t.RoundTrip.pct(50)), ms(t.RoundTrip.pct(99)), t.Throughput)
	}
	p("\n")

	p("### Where the time goes (per stage, from the services' own timestamps)\n\n")
	p("The stages after the response add up to the end-to-end latency per order (medians do not add exactly).\n\n")
	p("| stage | what |")
	for _, x := range r.rates {
		p(" p50 / p99 ms at %.0f/s |", x.Target)
	}
	p("\n|---|---|")
	for range r.rates {
		p("---:|")
	}
	p("\n")
	if len(r.rates) > 0 && len(r.rates[0].Stages) > 0 {
		for i, s := range r.rates[0].Stages {
			p("| %s | %s |", s.Name, s.What)
			for _, x := range r.rates {
				if st := stageOf(x, i); st != nil {
					p(" %s / %s |", ms(st.Lat.pct(50)), ms(st.Lat.pct(99)))
				} else {
					p(" – |")
				}
			}
			p("\n")
		}
	}
	p("| (inside the above) SMTP send | notifier's %s histogram, email/sent: mean; p50 / p99 estimated from buckets |", sendDurationMetric)
	for _, x := range r.rates {
		if x.SMTP.Count > 0 {
			p(" mean %s; %s / %s |", ms(x.SMTP.mean()), ms(x.SMTP.quantile(0.5)), ms(x.SMTP.quantile(0.99)))
		} else {
			p(" – |")
		}
	}
	p("\n")
	p("| CPU (cores) | users / orders / notifier / router; machine busy |")
	for _, x := range r.rates {
		p(" %.2f / %.2f / %.2f / %.2f; %.0f%% |", x.CPU["users"], x.CPU["orders"], x.CPU["notifier"], x.CPU["router"], 100*x.MachineBusy)
	}
	p("\n")
	p("| CPU per order (ms) | router / orders / users / notifier / broker / PostgreSQL / mail catcher = sum |")
	for _, x := range r.rates {
		sum := 0.0
		var parts []string
		for _, n := range []string{"router", "orders", "users", "notifier", "kafka", "nats", "postgres", "mailpit"} {
			v, ok := x.CPUPerOrder[n]
			if !ok {
				if n != "kafka" && n != "nats" {
					parts = append(parts, "–")
				}
				continue
			}
			sum += v
			parts = append(parts, fmt.Sprintf("%.2f", v))
		}
		p(" %s = %.2f |", strings.Join(parts, " / "), sum)
	}
	p("\n\n")
	for _, x := range r.rates {
		if x.StagesErr != nil {
			p("Stage breakdown unavailable at %.0f/s: `%v`\n\n", x.Target, x.StagesErr)
		}
	}
	if s, found := slowestStage(ref); found {
		p("**Slowest stage** at %.0f/s: %s (p50 %s ms, p99 %s ms of an end-to-end p50 of %s ms).\n", ref.Target, s.Name, ms(s.Lat.pct(50)), ms(s.Lat.pct(99)), ms(ref.E2E.pct(50)))
	}
	return b.String()
}

func stageOf(x rateResult, i int) *stage {
	if i >= len(x.Stages) || len(x.Stages[i].Lat) == 0 {
		return nil
	}
	return &x.Stages[i]
}
