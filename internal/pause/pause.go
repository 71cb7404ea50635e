// Package pause waits between retries without outliving a context: the one
// wait that reconnect and backoff loops share.
package pause

import (
	"context"
	"log/slog"
	"time"
)

// For waits d, or until ctx ends. It reports whether the whole wait passed:
// false means ctx ended and the caller should stop.
func For(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry calls try until it succeeds (true) or ctx ends (false), logging each
// failure as msg and waiting between attempts from 100ms, doubling up to 5s:
// a broker that is down or a topic not created yet delays a reader, it does
// not fail it.
func Retry(ctx context.Context, log *slog.Logger, msg string, try func() error) bool {
	wait := 100 * time.Millisecond
	for {
		err := try()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn(msg, "err", err)
		if !For(ctx, wait) {
			return false
		}
		wait = min(wait*2, 5*time.Second)
	}
}
