// Package consume holds what the Kafka and NATS backends share: the
// registry of running Consume calls that a subscriber's Close ends, the
// wait of a reader whose topic is not there yet, and the closed flag of a
// broker or publisher.
package consume

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/stream"
)

// Calls tracks the running Consume calls of one subscriber, so that its
// Close can end them. The zero value is ready to use; a subscriber embeds
// it for its Close.
type Calls struct {
	closed  atomic.Bool
	mu      sync.Mutex
	cancels map[*context.CancelFunc]struct{}
}

// Close marks the subscriber closed and ends every running call.
func (c *Calls) Close() error {
	c.closed.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for cancel := range c.cancels {
		(*cancel)()
	}
	return nil
}

// Closed reports whether Close was called.
func (c *Calls) Closed() bool { return c.closed.Load() }

// Start derives the context of one Consume call from ctx, or returns
// stream.ErrClosed when the subscriber or its broker is closed. The call
// must run end when it returns. The subscriber's flag is read under the
// lock Close takes, so a Close racing with Start either refuses the call
// or ends it.
func (c *Calls) Start(ctx context.Context, broker *Closed) (_ context.Context, end func(), _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() || broker.Load() {
		return nil, nil, stream.ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	if c.cancels == nil {
		c.cancels = map[*context.CancelFunc]struct{}{}
	}
	c.cancels[&cancel] = struct{}{}
	return ctx, func() {
		c.mu.Lock()
		delete(c.cancels, &cancel)
		c.mu.Unlock()
		cancel()
	}, nil
}

// Closed is the closed flag of a broker or publisher: Load reports it, and
// Close sets it and releases what it holds once, however often it is
// called.
type Closed struct{ atomic.Bool }

// Close sets the flag and calls release the first time only. It returns
// nil, as closing twice is harmless.
func (c *Closed) Close(release func()) error {
	if !c.Swap(true) {
		release()
	}
	return nil
}
