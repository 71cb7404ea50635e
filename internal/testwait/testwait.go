// Package testwait lets tests wait for the state they assert instead of
// sleeping for a time: it polls until a condition holds.
package testwait

import (
	"testing"
	"time"
)

// Patience is how long a wait lasts: generous, for a loaded 2-core machine.
const Patience = time.Minute

// For polls cond until it holds and fails the test when it does not within
// Patience; what names the awaited state in the failure.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out after %s waiting for %s", Patience, what)
	}
}

// Value polls get until done holds for its value and returns that value.
// When Patience runs out it returns the last value, for the caller's
// assertions to say what differs; an error from get fails the test.
func Value[T any](t testing.TB, get func() (T, error), done func(T) bool) T {
	t.Helper()
	var (
		v   T
		err error
	)
	poll(func() bool {
		v, err = get()
		return err != nil || done(v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// poll calls cond, at first often and then every 100ms, until it holds
// (true) or Patience has passed (false).
func poll(cond func() bool) bool {
	deadline := time.Now().Add(Patience)
	pause := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
	return true
}
