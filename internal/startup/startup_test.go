package startup_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/startup"
)

// refused is how a dependency that is down answers a dial (apperr's tests
// check that a real refused dial is classified so).
var refused error = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// TestWaitRetriesAnOutage: an unreachable dependency is waited for (and
// reported as the check's reason meanwhile); once op succeeds the check
// passes on to the next one.
func TestWaitRetriesAnOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st := &startup.Status{}
	check := st.Check("database", func(context.Context) error { return errors.New("next check") })
	attempts := 0
	seen := make(chan error, 1)
	v, err := startup.Wait(ctx, slog.New(slog.DiscardHandler), st, "database", "database unreachable", func(context.Context) (int, error) {
		attempts++
		if attempts == 2 {
			seen <- check(ctx) // while waiting
		}
		if attempts < 3 {
			return 0, fmt.Errorf("open: %w", refused)
		}
		return 42, nil
	})
	if err != nil || v != 42 || attempts != 3 {
		t.Fatalf("Wait = %d, %v after %d attempts; want 42 after 3", v, err, attempts)
	}
	var nr *httpserver.NotReady
	if err := <-seen; !errors.As(err, &nr) || nr.Reason != "database unreachable" {
		t.Fatalf("check while waiting = %v, want not ready: database unreachable", err)
	}
	if err := check(ctx); err == nil || err.Error() != "next check" {
		t.Fatalf("check after the wait = %v, want the next check's answer", err)
	}
}

// TestWaitStopsOnAPermanentError: what waiting cannot mend (bad
// credentials, a refused schema) is returned at once.
func TestWaitStopsOnAPermanentError(t *testing.T) {
	st := &startup.Status{}
	bad := errors.New("schema is newer than this build")
	attempts := 0
	_, err := startup.Wait(t.Context(), slog.New(slog.DiscardHandler), st, "database", "x", func(context.Context) (int, error) {
		attempts++
		return 0, bad
	})
	if !errors.Is(err, bad) || attempts != 1 {
		t.Fatalf("Wait = %v after %d attempts, want the error after 1", err, attempts)
	}
}

// TestWaitEndsWithItsContext: a service stopped while it waits returns.
func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	st := &startup.Status{}
	_, err := startup.WaitAny(ctx, slog.New(slog.DiscardHandler), st, "broker", "broker unreachable", func(context.Context) (int, error) {
		cancel()
		return 0, refused
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
	}
}

// topics fails its first EnsureTopic with an outage, then records the
// topics it was asked for.
type topics struct {
	down error
	made []string
}

func (b *topics) EnsureTopic(_ context.Context, topic string) error {
	if b.down != nil {
		err := b.down
		b.down = nil
		return err
	}
	b.made = append(b.made, topic)
	return nil
}

// TestEnsureTopicsWaitsForTheBroker: a broker that fails is asked again
// until every topic exists.
func TestEnsureTopicsWaitsForTheBroker(t *testing.T) {
	b := &topics{down: refused}
	err := startup.EnsureTopics(t.Context(), slog.New(slog.DiscardHandler), &startup.Status{}, "broker", "broker unreachable", b, "A", "B")
	if err != nil || len(b.made) != 2 || b.made[0] != "A" || b.made[1] != "B" {
		t.Fatalf("EnsureTopics = %v, made %v; want A and B after one retry", err, b.made)
	}
}
