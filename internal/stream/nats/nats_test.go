package nats_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/stream"
	heraldnats "github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testConfig keeps retry backoff short so retry cases end quickly; nothing
// asserts on time. AckWait and PublishTimeout stay generous: on a loaded
// machine a member stalled past AckWait gets its message again (a duplicate
// the contract suite's exact-order checks would report), and a slow publish
// must not fail a test. Only the stopped-broker case waits PublishTimeout out.
func testConfig(url string) heraldnats.Config {
	return heraldnats.Config{
		URL:            url,
		Partitions:     4,
		AckWait:        30 * time.Second,
		PublishTimeout: 15 * time.Second,
		RetryMin:       50 * time.Millisecond,
		RetryMax:       500 * time.Millisecond,
	}
}

// embedded starts a private real nats-server for t through Embedded (the
// dev binary's server: fsync on every write), so tests can stop it.
func embedded(t *testing.T) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, url, err := heraldnats.Embedded(ctx, t.TempDir(), 0)
	if err != nil {
		cancel()
		t.Fatalf("Embedded: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	t.Cleanup(stop)
	return url, stop
}

func newBroker(t *testing.T, url string) stream.Broker {
	t.Helper()
	return streamtest.Open(t, heraldnats.New, testConfig(url))
}

func TestContract(t *testing.T) {
	url := testenv.NATS(t)
	streamtest.Run(t,
		func(t *testing.T) stream.Broker { return newBroker(t, url) },
		streamtest.Options{
			Stoppable: func(t *testing.T) (stream.Broker, func(*testing.T)) {
				url, stop := embedded(t)
				return newBroker(t, url), func(*testing.T) { stop() }
			},
		})
}

// TestRedeliveryAfterConnectionLoss covers the crash the contract suite
// cannot: a member whose connection dies while it holds a message cannot
// nak it, so the group gets it back only when AckWait runs out.
func TestRedeliveryAfterConnectionLoss(t *testing.T) {
	url := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := streamtest.Unique("crash"), streamtest.Unique("g")
	// The redelivery waits for AckWait: keep it short here. Both members
	// use the same consumer settings; a duplicate delivery does no harm.
	cfg := testConfig(url)
	cfg.AckWait = 2 * time.Second

	a := streamtest.Open(t, heraldnats.New, cfg)
	if err := a.EnsureTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	p, err := a.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, stream.Message{Topic: topic, Key: "k", Value: []byte("held")}); err != nil {
		t.Fatal(err)
	}

	held, release := make(chan struct{}), make(chan struct{})
	subA, err := a.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan error, 1)
	go func() {
		doneA <- subA.Consume(ctx, func(context.Context, stream.Message) error {
			close(held)
			<-release
			return errors.New("crashed")
		})
	}()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("first member never got the message")
	}
	_ = a.Close() // the connection dies under the handler: no ack, no nak
	close(release)
	if err := <-doneA; !errors.Is(err, stream.ErrClosed) {
		t.Errorf("Consume after its broker closed = %v, want stream.ErrClosed", err)
	}

	b := streamtest.Open(t, heraldnats.New, cfg)
	subB, err := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	streamtest.Consume(cctx, subB, got)
	streamtest.Expect(t, ctx, got, "held", "the held message was never redelivered to the group")
}

func TestStreamName(t *testing.T) {
	tests := []struct{ topic, want string }{
		{"OrderCreated", "OrderCreated"},
		{"NotificationStatus", "NotificationStatus"},
	}
	for _, tc := range tests {
		if got := heraldnats.StreamName(tc.topic); got != tc.want {
			t.Errorf("StreamName(%q) = %q, want %q", tc.topic, got, tc.want)
		}
	}
	// Names that need cleaning stay distinct from each other.
	a, b := heraldnats.StreamName("OrderCreated.dlq"), heraldnats.StreamName("OrderCreated_dlq")
	if a == b {
		t.Errorf("StreamName collides: %q", a)
	}
}

// publishTo returns a context bounding the test, a broker on the shared
// server with topics ensured, and a publisher.
func publishTo(t *testing.T, topics ...string) (context.Context, stream.Broker, stream.Publisher) {
	t.Helper()
	b := newBroker(t, testenv.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	for _, tp := range topics {
		if err := b.EnsureTopic(ctx, tp); err != nil {
			t.Fatalf("EnsureTopic(%s): %v", tp, err)
		}
	}
	p, err := b.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	return ctx, b, p
}

// TestDeadLetterTopicBesideItsTopic checks that a topic and its ".dlq"
// topic (events.DeadLetterSuffix) are separate streams whose subjects do not
// overlap.
func TestDeadLetterTopicBesideItsTopic(t *testing.T) {
	topic := streamtest.Unique("orders")
	topics := []string{topic, topic + ".dlq"}
	ctx, b, p := publishTo(t, topics...)
	for _, tp := range topics {
		if err := p.Publish(ctx, stream.Message{Topic: tp, Key: "k", Value: []byte(tp)}); err != nil {
			t.Fatalf("Publish(%s): %v", tp, err)
		}
	}
	for _, tp := range topics {
		sub, err := b.Subscriber(stream.SubscribeOptions{Topic: tp, Group: "g"})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan stream.Message, 10)
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- sub.Consume(cctx, func(_ context.Context, m stream.Message) error { got <- m; return nil })
		}()
		select {
		case m := <-got:
			if string(m.Value) != tp || m.Topic != tp {
				t.Errorf("consuming %s got %q from %s", tp, m.Value, m.Topic)
			}
		case <-ctx.Done():
			t.Fatalf("nothing consumed from %s", tp)
		}
		ccancel()
		<-done
		if len(got) > 0 {
			t.Errorf("consuming %s got more than its one message", tp)
		}
	}
}

// JetStream drops a publication whose event id it saw within its duplicate
// window (a relay retrying after a lost ack), unless stream.DedupHeader gives
// the publication an id of its own (a dead-letter replay).
func TestDuplicateWindowAndDedupHeader(t *testing.T) {
	topic := streamtest.Unique("dedup")
	ctx, b, p := publishTo(t, topic)
	id := "evt-" + topic
	pub := func(value string, extra ...stream.Header) {
		t.Helper()
		m := stream.Message{Topic: topic, Key: "k", Value: []byte(value),
			Headers: append([]stream.Header{{Key: "ce_id", Value: id}}, extra...)}
		if err := p.Publish(ctx, m); err != nil {
			t.Fatalf("Publish(%s): %v", value, err)
		}
	}
	pub("first")
	pub("retry")                                                                 // same id: dropped
	pub("replay", stream.Header{Key: stream.DedupHeader, Value: id + "/replay"}) // own id: kept
	pub("last", stream.Header{Key: stream.DedupHeader, Value: "other"})          // marks the end

	sub, err := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	values := make(chan string, 10)
	cctx, ccancel := context.WithCancel(ctx)
	done := streamtest.Consume(cctx, sub, values)
	for len(got) == 0 || got[len(got)-1] != "last" {
		select {
		case v := <-values:
			got = append(got, v)
			continue
		case <-ctx.Done():
		}
		break
	}
	ccancel()
	<-done
	if want := []string{"first", "replay", "last"}; !slices.Equal(got, want) {
		t.Fatalf("consumed %q, want %q", got, want)
	}
}
