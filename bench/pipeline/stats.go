package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

type latencies []time.Duration

// pct returns the p-th percentile (nearest rank), 0 when empty.
func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// ms formats a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 10:
		return fmt.Sprintf("%.2f", v)
	case math.Abs(v) < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// slope is the least-squares slope of y over x (per unit of x); 0 with
// fewer than two points.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// backlogSample is how many answered orders still waited for their email
// at one moment of the load.
type backlogSample struct {
	At      time.Duration // since the load began
	Backlog int
}

// keptUp judges a rate: every call answered without error, the achieved
// rate within 5% of the target, every email in within settle of the load's
// end, and the backlog not growing in the second half of the load by more
// than max(0.5, 2% of the rate) orders per second (at 80/s: 1.6/s, so
// under 16 orders over a ten-second half; the floor of 0.5/s keeps the
// noise of a backlog of 0–2 at low rates from failing a run).
func keptUp(target, achieved float64, errors, missing int, lastArrivalAfterEnd, settle time.Duration, samples []backlogSample, loadDur time.Duration) (bool, string) {
	if errors > 0 {
		return false, fmt.Sprintf("%d createOrder errors", errors)
	}
	if achieved < 0.95*target {
		return false, fmt.Sprintf("achieved %.1f/s of %.0f/s", achieved, target)
	}
	if missing > 0 {
		return false, fmt.Sprintf("%d emails missing after the drain", missing)
	}
	if lastArrivalAfterEnd > settle {
		return false, fmt.Sprintf("last email %s after the load stopped (> %s)", lastArrivalAfterEnd.Round(100*time.Millisecond), settle)
	}
	if g := backlogGrowth(samples, loadDur); g > growthLimit(target) {
		return false, fmt.Sprintf("backlog grew %.1f orders/s (limit %.1f)", g, growthLimit(target))
	}
	return true, ""
}

// backlogGrowth is the backlog's slope (orders per second) over the second
// half of the load.
func backlogGrowth(samples []backlogSample, loadDur time.Duration) float64 {
	var x, y []float64
	for _, s := range samples {
		if s.At >= loadDur/2 && s.At <= loadDur {
			x = append(x, s.At.Seconds())
			y = append(y, float64(s.Backlog))
		}
	}
	return slope(x, y)
}

// growthLimit is the backlog growth (orders/s) above which a rate is
// backing up.
func growthLimit(rate float64) float64 { return max(0.5, 0.02*rate) }
