package subscription

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
)

// blockingUpdater is the engine's side of a trigger: Update blocks until the
// test lets it return, as the engine's does while it fetches an order.
type blockingUpdater struct {
	entered chan []byte
	release chan struct{}
	done    chan struct{}

	mu     sync.Mutex
	errors [][]byte
}

func (u *blockingUpdater) Update(data []byte) {
	u.entered <- data
	<-u.release
}
func (u *blockingUpdater) UpdateSubscription(resolve.SubscriptionIdentifier, []byte) {}
func (u *blockingUpdater) Complete()                                                 {}
func (u *blockingUpdater) Error(data []byte) {
	u.mu.Lock()
	u.errors = append(u.errors, data)
	u.mu.Unlock()
}
func (u *blockingUpdater) Done()                                            { close(u.done) }
func (u *blockingUpdater) CloseSubscription(resolve.SubscriptionIdentifier) {}
func (u *blockingUpdater) Subscriptions() map[context.Context]resolve.SubscriptionIdentifier {
	return nil
}

// A trigger whose updates resolve slower than events arrive never blocks
// the stream reader: once its queue is full it ends with SUBSCRIBER_TOO_SLOW
// and its watcher is removed.
func TestTriggerFallingBehindEndsTooSlow(t *testing.T) {
	hub := &Hub{buffer: 1, watchers: map[*watcher]struct{}{}, log: slog.New(slog.DiscardHandler)}
	src := &source{hub: hub}
	u := &blockingUpdater{entered: make(chan []byte), release: make(chan struct{}), done: make(chan struct{})}
	// An operator's subscription: the filter stays as given.
	ctx, cancel := context.WithCancel(identity.With(context.Background(), identity.Identity{Subject: "ops", Scopes: []string{identity.OperatorScope}}))
	defer cancel()
	if err := src.Start(resolve.NewContext(ctx), nil, []byte(`{"orderId":"o1"}`), u); err != nil {
		t.Fatal(err)
	}
	hub.mu.RLock()
	var fn func([]byte)
	for w := range hub.watchers {
		fn = w.fn
	}
	hub.mu.RUnlock()
	if fn == nil {
		t.Fatal("no watcher registered")
	}

	fn([]byte(`1`)) // taken by the trigger's goroutine, which blocks in Update
	if got := string(<-u.entered); got != "1" {
		t.Fatalf("first update %s", got)
	}
	fn([]byte(`2`)) // queued
	fn([]byte(`3`)) // the queue is full: returns at once, the trigger is over
	close(u.release)
	select {
	case <-u.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the trigger did not end")
	}
	u.mu.Lock()
	errs := u.errors
	u.mu.Unlock()
	if len(errs) != 1 || string(errs[0]) != string(tooSlowResponse) {
		t.Errorf("errors %q, want one %s", errs, tooSlowResponse)
	}
	testwait.For(t, "the watcher to be removed", func() bool { return hub.Watchers() == 0 })
}
