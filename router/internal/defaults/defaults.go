// Package defaults fills the settings a configuration left unset.
package defaults

import "time"

// Positive is v, or def when v is not set: zero or negative (a Config built
// by hand in tests and in-process callers leaves fields at zero).
func Positive[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
