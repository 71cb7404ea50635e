package notifier

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	kafkastream "github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// deadLetters publishes n dead letters for topic straight onto its
// dead-letter topic and returns their event ids.
func deadLetters(t *testing.T, ctx context.Context, b stream.Broker, topic string, n int) []string {
	t.Helper()
	dlq := topic + events.DeadLetterSuffix
	pub := streamtest.Publisher(t, ctx, b, topic, dlq)
	var ids []string
	for i := range n {
		id := uniqueName(fmt.Sprintf("dl%d", i))
		ids = append(ids, id)
		if err := pub.Publish(ctx, stream.Message{Topic: dlq, Key: fmt.Sprintf("user-%d", i), Value: []byte(`{}`),
			Headers: []stream.Header{
				{Key: events.HeaderID, Value: id},
				{Key: events.HeaderDeadLetterReason, Value: "test"},
				{Key: HeaderDeadLetterTopic, Value: topic},
				{Key: HeaderDeadLetterAt, Value: time.Now().UTC().Format(time.RFC3339Nano)},
			}}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestReplayWaitsForASlowGroup: the replay group still counts a member that
// stopped without leaving (a static member, as a killed replay or a crashed
// process leaves it), so the replay cannot join until that member's session
// expires. The replay waits, then replays every dead letter present at its
// start, once each, and stops by itself; an idle timer shorter than the wait
// would have stopped it with nothing replayed.
func TestReplayWaitsForASlowGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	brokers := testenv.Kafka(t).Brokers
	broker := kafkaBroker(t)
	topic, group := uniqueName("slowjoin"), uniqueName("replay")
	ids := deadLetters(t, ctx, broker, topic, 6)

	const stale = 12 * time.Second
	staleBroker, err := kafkastream.New(ctx, kafkastream.Config{Brokers: brokers, InstanceID: uniqueName("stale"), SessionTimeout: stale}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer staleBroker.Close()
	sub, _ := staleBroker.Subscriber(stream.SubscribeOptions{Topic: topic + events.DeadLetterSuffix, Group: group})
	sctx, stopStale := context.WithCancel(ctx)
	got := make(chan struct{}, len(ids))
	staleDone := make(chan error, 1)
	go func() {
		staleDone <- sub.Consume(sctx, func(hctx context.Context, _ stream.Message) error {
			got <- struct{}{}
			<-hctx.Done() // never acknowledges
			return hctx.Err()
		})
	}()
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the stale member never received a dead letter")
	}
	stopStale() // a static member does not leave: the group waits for its session
	if err := <-staleDone; err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	replayed := map[string]int{}
	collected := make(chan struct{}, 64)
	streamtest.StartConsumer(t, broker, topic, uniqueName("check"), func(_ context.Context, m stream.Message) error {
		mu.Lock()
		replayed[m.Header(events.HeaderID)]++
		mu.Unlock()
		collected <- struct{}{}
		return nil
	})

	began := time.Now()
	res, err := ReplayDLQ(ctx, broker, ReplayOptions{Topic: topic, Group: group}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay behind a stale member (session %s) took %s: %+v", stale, time.Since(began).Round(time.Millisecond), res)
	if want := (ReplayResult{Replayed: len(ids)}); res != want {
		t.Fatalf("replay = %+v, want %+v", res, want)
	}
	for range ids {
		select {
		case <-collected:
		case <-ctx.Done():
			t.Fatalf("replayed events on %s: %v, want each of %v once", topic, replayed, ids)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if replayed[id] != 1 {
			t.Fatalf("event %s replayed %d times, want once (all: %v)", id, replayed[id], replayed)
		}
	}
}

// TestReplayStopsAtTheEndOfItsStartNATS: on JetStream the replay captures
// each partition subject's last sequence, replays up to there and leaves
// what arrives later for the next run.
func TestReplayStopsAtTheEndOfItsStartNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	broker := natsBroker(t)
	topic, group := uniqueName("natsreplay"), uniqueName("replay")
	ids := deadLetters(t, ctx, broker, topic, 10)
	res, err := ReplayDLQ(ctx, broker, ReplayOptions{Topic: topic, Group: group, Limit: 4}, testLogger(t))
	if want := (ReplayResult{Replayed: 4, Left: len(ids) - 4}); err != nil || res != want {
		t.Fatalf("replay with limit 4 = %+v, %v; want %+v", res, err, want)
	}
	more := deadLetters(t, ctx, broker, topic, 3)
	res, err = ReplayDLQ(ctx, broker, ReplayOptions{Topic: topic, Group: group}, testLogger(t))
	if want := (ReplayResult{Replayed: len(ids) + len(more) - 4, Skipped: 4}); err != nil || res != want {
		t.Fatalf("second replay = %+v, %v; want %+v", res, err, want)
	}
}
