package streamtest

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/heraldhq/herald/internal/stream"
)

// Logger is the logger of the backends' tests: warnings on stderr with -v,
// nothing otherwise.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// Open opens a broker with a backend's constructor and cfg, logging to
// Logger, and closes it when t ends.
func Open[C any](t *testing.T, open func(context.Context, C, *slog.Logger) (stream.Broker, error), cfg C) stream.Broker {
	t.Helper()
	b, err := open(context.Background(), cfg, Logger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Consume runs sub.Consume in the background, sending every message's value
// to got (a handler waits for room, or fails once its context ends), and
// returns a channel with Consume's result.
func Consume(ctx context.Context, sub stream.Subscriber, got chan<- string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- sub.Consume(ctx, func(ctx context.Context, m stream.Message) error {
			select {
			case got <- string(m.Value):
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	return done
}

// Publisher ensures topics on b and returns a publisher of b that is closed
// when t ends.
func Publisher(t testing.TB, ctx context.Context, b stream.Broker, topics ...string) stream.Publisher {
	t.Helper()
	for _, topic := range topics {
		if err := b.EnsureTopic(ctx, topic); err != nil {
			t.Fatalf("EnsureTopic(%s): %v", topic, err)
		}
	}
	p, err := b.Publisher()
	if err != nil {
		t.Fatalf("Publisher: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Expect waits for the next value on got (as Consume sends them) and fails
// t unless it is want; none says what did not happen when ctx ends first.
func Expect(t testing.TB, ctx context.Context, got <-chan string, want, none string) {
	t.Helper()
	select {
	case v := <-got:
		if v != want {
			t.Fatalf("got %q, want %q", v, want)
		}
	case <-ctx.Done():
		t.Fatal(none)
	}
}
