package kafka_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// staticBroker is a broker whose consumers are static members under id,
// with a session timeout far longer than the test may take: a member that
// had to wait for its predecessor's session to expire would fail the test.
func staticBroker(t *testing.T, brokers []string, id string) stream.Broker {
	t.Helper()
	cfg := testConfig(brokers)
	cfg.InstanceID = id
	cfg.SessionTimeout = 5 * time.Minute
	return streamtest.Open(t, kafka.New, cfg)
}

// waitConsuming waits until sub reports it holds its partitions.
func waitConsuming(t *testing.T, ctx context.Context, sub stream.Subscriber) {
	t.Helper()
	c, ok := sub.(stream.Consuming)
	if !ok {
		t.Fatalf("%T does not implement stream.Consuming", sub)
	}
	for {
		err := c.Consuming(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never consuming: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// staticCase returns what each static membership test starts from: a
// context bounding it, the shared broker's addresses, and a topic and a
// group of its own named after prefix.
func staticCase(t *testing.T, prefix string) (ctx context.Context, brokers []string, topic, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, testenv.Kafka(t).Brokers, streamtest.Unique(prefix), streamtest.Unique(prefix)
}

// TestStaticMemberResumesAtOnce: a consumer stopped without leaving its
// group (what a killed process does) and started again under the same
// instance id gets its partitions back without waiting for its session to
// expire (five minutes here, longer than the test's deadline).
func TestStaticMemberResumesAtOnce(t *testing.T) {
	ctx, brokers, topic, group := staticCase(t, "static")
	id := streamtest.Unique("notifier")
	b := staticBroker(t, brokers, id)
	pub := streamtest.Publisher(t, ctx, b, topic)

	sub1, _ := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	if err := sub1.(stream.Consuming).Consuming(ctx); err == nil {
		t.Fatal("Consuming before Consume ran: nil, want not consuming")
	}
	got := make(chan string, 16)
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := streamtest.Consume(ctx1, sub1, got)
	waitConsuming(t, ctx, sub1)
	if err := pub.Publish(ctx, stream.Message{Topic: topic, Key: "k", Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	streamtest.Expect(t, ctx, got, "before", "the first member did not consume")
	// A static member does not leave the group when it stops: to the group
	// this is a crash.
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	requireMember(t, ctx, brokers, group, id)
	if err := pub.Publish(ctx, stream.Message{Topic: topic, Key: "k", Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}

	restarted := time.Now()
	b2 := staticBroker(t, brokers, id)
	sub2, _ := b2.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	done2 := streamtest.Consume(ctx, sub2, got)
	select {
	case v := <-got:
		if v != "after" {
			t.Fatalf("restarted member got %q first, want after (before was committed)", v)
		}
	case err := <-done2:
		t.Fatalf("restarted Consume returned: %v", err)
	case <-ctx.Done():
		t.Fatal("the restarted static member did not resume before the test's deadline (it waited for the old session?)")
	}
	t.Logf("restarted static member: first message %s after it started", time.Since(restarted).Round(time.Millisecond))
	waitConsuming(t, ctx, sub2)
}

// requireMember fails unless the group still counts a member with the
// static instance id: it stopped without leaving, as a killed process does.
func requireMember(t *testing.T, ctx context.Context, brokers []string, group, id string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range groups[group].Members {
		if m.InstanceID != nil && *m.InstanceID == id {
			return
		}
	}
	t.Fatalf("group %s (%s) has no member %s after it stopped: it left the group, which a killed process does not", group, groups[group].State, id)
}

// TestStaticMemberTwinIsFenced: a second process started with the same
// instance id takes the place of the first, whose Consume returns
// stream.ErrFenced instead of fighting it for the partitions.
func TestStaticMemberTwinIsFenced(t *testing.T) {
	ctx, brokers, topic, group := staticCase(t, "twin")
	id := streamtest.Unique("notifier")
	b1 := staticBroker(t, brokers, id)
	pub := streamtest.Publisher(t, ctx, b1, topic)
	sub1, _ := b1.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	got := make(chan string, 16)
	done1 := streamtest.Consume(ctx, sub1, got)
	waitConsuming(t, ctx, sub1)

	b2 := staticBroker(t, brokers, id)
	sub2, _ := b2.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	twin := time.Now()
	done2 := streamtest.Consume(ctx, sub2, got)
	select {
	case err := <-done1:
		if !errors.Is(err, stream.ErrFenced) {
			t.Fatalf("first member's Consume returned %v, want ErrFenced", err)
		}
		t.Logf("first member fenced %s after its twin started: %v", time.Since(twin).Round(time.Millisecond), err)
	case err := <-done2:
		t.Fatalf("the twin's Consume returned %v", err)
	case <-ctx.Done():
		t.Fatal("the first member was never fenced")
	}
	if err := sub1.(stream.Consuming).Consuming(ctx); err == nil {
		t.Fatal("a fenced member reports consuming")
	}
	waitConsuming(t, ctx, sub2)
	if err := pub.Publish(ctx, stream.Message{Topic: topic, Key: "k", Value: []byte("to the twin")}); err != nil {
		t.Fatal(err)
	}
	streamtest.Expect(t, ctx, got, "to the twin", "the twin did not consume")
}

// TestNotConsumingBehindAStaleMember: a member that joins while the group
// still counts one that stopped without leaving holds no partitions until
// that member's session expires, and says so; then it consumes.
func TestNotConsumingBehindAStaleMember(t *testing.T) {
	ctx, brokers, topic, group := staticCase(t, "stale")
	const session = 12 * time.Second
	cfg := testConfig(brokers)
	cfg.InstanceID, cfg.SessionTimeout = streamtest.Unique("stale"), session
	staleBroker := streamtest.Open(t, kafka.New, cfg)
	if err := staleBroker.EnsureTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	stale, _ := staleBroker.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	sctx, stopStale := context.WithCancel(ctx)
	staleDone := streamtest.Consume(sctx, stale, make(chan string, 16))
	waitConsuming(t, ctx, stale)
	stopStale()
	if err := <-staleDone; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	requireMember(t, ctx, brokers, group, cfg.InstanceID)

	fresh, _ := newBroker(t, brokers).Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	freshDone := streamtest.Consume(ctx, fresh, make(chan string, 16))
	sawNotConsuming := false
	for {
		err := fresh.(stream.Consuming).Consuming(ctx)
		if err == nil {
			break
		}
		sawNotConsuming = true
		select {
		case err := <-freshDone:
			t.Fatalf("Consume returned: %v", err)
		case <-ctx.Done():
			t.Fatalf("never consuming: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The session runs from the stale member's last heartbeat (every 3s),
	// so it may expire a little before stopped+session, never by half.
	waited := time.Since(stopped)
	if waited < session/2 {
		t.Fatalf("consuming %s after the stale member stopped, before its %s session could expire", waited, session)
	}
	if !sawNotConsuming {
		t.Fatal("the member never reported not consuming while the stale one held the partitions")
	}
	t.Logf("not consuming for %s behind a stale member (session %s)", waited.Round(time.Millisecond), session)
}
