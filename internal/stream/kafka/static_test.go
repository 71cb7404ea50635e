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

// longSession is a session timeout far longer than a test may take: a
// member that had to wait for its predecessor's session to expire would
// fail the test.
const longSession = 5 * time.Minute

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

// staticCase is what each static membership test has of its own: a topic,
// a group and a static instance id, on the shared broker.
type staticCase struct {
	brokers          []string
	topic, group, id string
}

// newStaticCase returns a context bounding the test and a case named after
// prefix.
func newStaticCase(t *testing.T, prefix string) (context.Context, staticCase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, staticCase{
		brokers: testenv.Kafka(t).Brokers,
		topic:   streamtest.Unique(prefix),
		group:   streamtest.Unique(prefix),
		id:      streamtest.Unique("notifier"),
	}
}

// member opens a broker whose consumers are static members under the
// case's id with session as their session timeout, and a subscriber of the
// case's topic and group on it.
func (c staticCase) member(t *testing.T, session time.Duration) (stream.Broker, stream.Subscriber) {
	t.Helper()
	cfg := testConfig(c.brokers)
	cfg.InstanceID, cfg.SessionTimeout = c.id, session
	b := streamtest.Open(t, kafka.New, cfg)
	sub, err := b.Subscriber(stream.SubscribeOptions{Topic: c.topic, Group: c.group})
	if err != nil {
		t.Fatal(err)
	}
	return b, sub
}

// TestStaticMemberResumesAtOnce: a consumer stopped without leaving its
// group (what a killed process does) and started again under the same
// instance id gets its partitions back without waiting for its session to
// expire (five minutes here, longer than the test's deadline).
func TestStaticMemberResumesAtOnce(t *testing.T) {
	ctx, c := newStaticCase(t, "static")
	b, sub1 := c.member(t, longSession)
	pub := streamtest.Publisher(t, ctx, b, c.topic)
	if err := sub1.(stream.Consuming).Consuming(ctx); err == nil {
		t.Fatal("Consuming before Consume ran: nil, want not consuming")
	}
	got := make(chan string, 16)
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := streamtest.Consume(ctx1, sub1, got)
	waitConsuming(t, ctx, sub1)
	if err := pub.Publish(ctx, stream.Message{Topic: c.topic, Key: "k", Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	streamtest.Expect(t, ctx, got, "before", "the first member did not consume")
	// A static member does not leave the group when it stops: to the group
	// this is a crash.
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	c.requireMember(t, ctx)
	if err := pub.Publish(ctx, stream.Message{Topic: c.topic, Key: "k", Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}

	restarted := time.Now()
	_, sub2 := c.member(t, longSession)
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
func (c staticCase) requireMember(t *testing.T, ctx context.Context) {
	t.Helper()
	group, id := c.group, c.id
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
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
	ctx, c := newStaticCase(t, "twin")
	b1, sub1 := c.member(t, longSession)
	pub := streamtest.Publisher(t, ctx, b1, c.topic)
	got := make(chan string, 16)
	done1 := streamtest.Consume(ctx, sub1, got)
	waitConsuming(t, ctx, sub1)

	_, sub2 := c.member(t, longSession)
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
	if err := pub.Publish(ctx, stream.Message{Topic: c.topic, Key: "k", Value: []byte("to the twin")}); err != nil {
		t.Fatal(err)
	}
	streamtest.Expect(t, ctx, got, "to the twin", "the twin did not consume")
}

// TestNotConsumingBehindAStaleMember: a member that joins while the group
// still counts one that stopped without leaving holds no partitions until
// that member's session expires, and says so; then it consumes.
func TestNotConsumingBehindAStaleMember(t *testing.T) {
	ctx, c := newStaticCase(t, "stale")
	const session = 12 * time.Second
	staleBroker, stale := c.member(t, session)
	if err := staleBroker.EnsureTopic(ctx, c.topic); err != nil {
		t.Fatal(err)
	}
	sctx, stopStale := context.WithCancel(ctx)
	staleDone := streamtest.Consume(sctx, stale, make(chan string, 16))
	waitConsuming(t, ctx, stale)
	stopStale()
	if err := <-staleDone; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	c.requireMember(t, ctx)

	fresh, _ := newBroker(t, c.brokers).Subscriber(stream.SubscribeOptions{Topic: c.topic, Group: c.group})
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
