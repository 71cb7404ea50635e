package kafka_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestConsumeBatchesRetriesFromTheFailedMessage: a batch handler that
// reports part of its batch done and fails on the next message gets that
// message and the rest again, in order; the done ones are not repeated.
func TestConsumeBatchesRetriesFromTheFailedMessage(t *testing.T) {
	b := newBroker(t, testenv.Kafka(t).Brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	topic := streamtest.Unique("batches")
	if err := b.EnsureTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	pub, err := b.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const n = 8
	msgs := make([]stream.Message, n)
	for i := range msgs {
		msgs[i] = stream.Message{Topic: topic, Key: "one-key", Value: []byte(strconv.Itoa(i))}
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		done    []string // values in the order they were reported done
		largest int
		failed  bool
	)
	all := make(chan struct{})
	c := streamtest.StartConsuming(t, b, topic, streamtest.Unique("g"), func(ctx context.Context, sub stream.Subscriber) error {
		return sub.ConsumeBatches(ctx, func(_ context.Context, batch []stream.Message) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			largest = max(largest, len(batch))
			k := len(batch)
			var err error
			if !failed && len(batch) > 2 {
				failed, k, err = true, 2, errors.New("the third message fails once")
			}
			for _, m := range batch[:k] {
				done = append(done, string(m.Value))
			}
			if len(done) == n {
				close(all)
			}
			return k, err
		})
	})
	select {
	case <-all:
	case <-c.Returned():
		t.Fatalf("ConsumeBatches returned early: %v", c.Err())
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("timed out; done so far %v", done)
	}
	c.Stop(t)
	mu.Lock()
	defer mu.Unlock()
	if !failed {
		t.Fatalf("no batch of more than two messages (largest %d): all %d were published before consuming", largest, n)
	}
	for i, v := range done {
		if v != strconv.Itoa(i) {
			t.Fatalf("done in order %v, want 0..%d once each", done, n-1)
		}
	}
}
