package notifier

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/events"
)

func TestCanTransition(t *testing.T) {
	const (
		P = events.StatusPending
		D = events.StatusDeferred
		R = events.StatusRetrying
		S = events.StatusSent
		F = events.StatusFailed
		K = events.StatusSkipped
	)
	all := []string{P, D, R, S, F, K}
	allowed := map[[2]string]bool{
		{"", P}: true, {"", D}: true, {"", K}: true,
		{P, D}: true, {P, R}: true, {P, S}: true, {P, F}: true, {P, K}: true,
		{D, R}: true, {D, S}: true, {D, F}: true, {D, K}: true,
		{R, R}: true, {R, S}: true, {R, F}: true, {R, K}: true,
	}
	for _, from := range append([]string{""}, all...) {
		for _, to := range all {
			if got, want := CanTransition(from, to), allowed[[2]string{from, to}]; got != want {
				t.Errorf("CanTransition(%q, %q) = %v, want %v", from, to, got, want)
			}
		}
	}
	// The row table may never lead out of a final status.
	for _, final := range []delivery.Status{delivery.StatusSENT, delivery.StatusFAILED, delivery.StatusSKIPPED} {
		for _, to := range []delivery.Status{delivery.StatusPENDING, delivery.StatusDEFERRED, delivery.StatusSENDING, delivery.StatusRETRYING, delivery.StatusSENT, delivery.StatusFAILED, delivery.StatusSKIPPED} {
			if canMoveRow(final, to) {
				t.Errorf("row may move from final %s to %s", final, to)
			}
		}
	}
}

func TestEventTimeIncreases(t *testing.T) {
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		last, now time.Time
		want      time.Time
	}{
		{"later clock", last, last.Add(time.Second), last.Add(time.Second)},
		{"same tick", last, last, last.Add(time.Microsecond)},
		{"clock went back", last, last.Add(-time.Second), last.Add(time.Microsecond)},
		{"sub-microsecond truncated", time.Time{}, last.Add(1500 * time.Nanosecond), last.Add(time.Microsecond)},
	}
	for _, tc := range tests {
		if got := eventTime(tc.last, tc.now); !got.Equal(tc.want) {
			t.Errorf("%s: eventTime = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second, Jitter: 0.5}
	tests := []struct {
		attempt int
		center  time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {12, 10 * time.Second}}
	for _, tc := range tests {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := b.Delay(tc.attempt)
			lo, hi := time.Duration(float64(tc.center)*0.5), time.Duration(float64(tc.center)*1.5)
			if d < lo || d > hi {
				t.Fatalf("Delay(%d) = %v, outside [%v, %v]", tc.attempt, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(%d) never varied: no jitter", tc.attempt)
		}
	}
	exact := Backoff{Base: time.Minute, Max: time.Hour}
	if got := exact.Delay(3); got != 4*time.Minute {
		t.Errorf("Delay(3) without jitter = %v, want 4m", got)
	}
}
