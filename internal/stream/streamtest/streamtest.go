// Package streamtest is the contract suite every stream.Broker backend must
// pass (see the semantics in package stream). Backends call Run from their own
// tests against a real broker.
//
// The suite makes no timing assertions: every wait is a readiness poll with a
// generous failure deadline ("nothing arrived within 60s"), never a speed
// claim.
package streamtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/stream"
)

// Options tune the suite for one backend.
type Options struct {
	// Stoppable returns a broker on a private server and a function that
	// stops that server. It is needed by the "publish while the broker is
	// down" case; when nil that case is skipped (say why in the backend's
	// test if so).
	Stoppable func(t *testing.T) (stream.Broker, func(t *testing.T))
	// Deadline bounds every wait of the suite (default 60s). It is a
	// failure deadline for a hang, not a speed requirement.
	Deadline time.Duration
}

// Run runs the contract suite. newBroker returns a broker on a shared,
// running server; the suite closes what it gets. Each case uses its own
// topics and groups, so one server can serve every case.
func Run(t *testing.T, newBroker func(t *testing.T) stream.Broker, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Deadline <= 0 {
		o.Deadline = 60 * time.Second
	}
	s := &suite{newBroker: newBroker, o: o}
	cases := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"HeadersRoundTrip", s.headersRoundTrip},
		{"RepublishWithDedupHeader", s.republishWithDedupHeader},
		{"PerKeyOrder", s.perKeyOrder},
		{"RetryDoesNotSkip", s.retryDoesNotSkip},
		{"BatchPartialProgress", s.batchPartialProgress},
		{"RedeliveryAfterCrash", s.redeliveryAfterCrash},
		{"LoadSharing", s.loadSharing},
		{"GroupsAreIndependent", s.groupsAreIndependent},
		{"PublishAfterClose", s.publishAfterClose},
		{"CloseEndsConsume", s.closeEndsConsume},
		{"SubscriberNeedsTopicAndGroup", s.subscriberNeedsTopicAndGroup},
		{"PublishWhileDown", s.publishWhileDown},
		{"TailFromTheEnd", s.tailFromTheEnd},
		{"Lag", s.lag},
	}
	for _, c := range cases {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	newBroker func(t *testing.T) stream.Broker
	o         Options
}

// setup returns a fresh broker, a unique ensured topic and a publisher.
func (s *suite) setup(t *testing.T) (stream.Broker, string, stream.Publisher) {
	t.Helper()
	b := s.newBroker(t)
	t.Cleanup(func() { _ = b.Close() })
	topic := Unique("topic")
	ctx := s.ctx(t)
	if err := b.EnsureTopic(ctx, topic); err != nil {
		t.Fatalf("EnsureTopic(%s): %v", topic, err)
	}
	// Publisher ensures it again: EnsureTopic must be idempotent, services
	// call it on every start.
	return b, topic, Publisher(t, ctx, b, topic)
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Deadline)
	t.Cleanup(cancel)
	return ctx
}

// Unique returns a name that no earlier run used (franz-go refuses a topic
// that was deleted and re-created under the same name).
func Unique(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8]
}

// msg builds test message seq on key; the value names both.
func msg(topic, key string, seq int) stream.Message {
	return stream.Message{
		Topic: topic,
		Key:   key,
		Headers: []stream.Header{
			{Key: "ce_id", Value: uuid.NewString()},
			{Key: "seq", Value: strconv.Itoa(seq)},
		},
		Value: []byte(key + "/" + strconv.Itoa(seq)),
	}
}

func seqOf(t *testing.T, m stream.Message) int {
	n, err := strconv.Atoi(m.Header("seq"))
	if err != nil {
		t.Errorf("message %q without a seq header: %v", m.Value, err)
	}
	return n
}

// Consumer is a subscriber consuming in a goroutine until Stop is called or
// the test ends (StartConsuming).
type Consumer struct {
	cancel  context.CancelFunc
	done    chan struct{} // closed once consume has returned
	err     error         // what consume returned, set before done closes
	sub     stream.Subscriber
	stopped bool
}

// StartConsumer is StartConsuming with Consume(h).
func StartConsumer(t testing.TB, b stream.Broker, topic, group string, h stream.Handler) *Consumer {
	t.Helper()
	return StartConsuming(t, b, topic, group, func(ctx context.Context, sub stream.Subscriber) error { return sub.Consume(ctx, h) })
}

// StartConsuming runs consume (Consume or ConsumeBatches on a new
// subscriber of group) in a goroutine until Stop or the end of the test.
func StartConsuming(t testing.TB, b stream.Broker, topic, group string, consume func(context.Context, stream.Subscriber) error) *Consumer {
	t.Helper()
	sub, err := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
	if err != nil {
		t.Fatalf("Subscriber(%s, %s): %v", topic, group, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Consumer{cancel: cancel, done: make(chan struct{}), sub: sub}
	go func() {
		defer close(c.done)
		c.err = consume(ctx, sub)
	}()
	t.Cleanup(func() { c.Stop(t) })
	return c
}

// Returned is closed when consume returns; before Stop, that is early, and
// Err says why.
func (c *Consumer) Returned() <-chan struct{} { return c.done }

// Err is what consume returned, once Returned is closed.
func (c *Consumer) Err() error { return c.err }

// record starts a consumer in group that records every message it is given
// and acknowledges it.
func record(t *testing.T, b stream.Broker, topic, group string) (*recorder, *Consumer) {
	t.Helper()
	rec := &recorder{}
	c := StartConsumer(t, b, topic, group, func(_ context.Context, m stream.Message) error {
		rec.add(m)
		return nil
	})
	return rec, c
}

// publishOnKey publishes n messages with sequence numbers from 0 on key.
func publishOnKey(ctx context.Context, t *testing.T, p stream.Publisher, topic, key string, n int) {
	t.Helper()
	var msgs []stream.Message
	for i := range n {
		msgs = append(msgs, msg(topic, key, i))
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// publishSeq publishes n messages with sequence numbers from first on,
// spread over four keys, in one batch.
func publishSeq(ctx context.Context, t *testing.T, p stream.Publisher, topic string, first, n int) {
	t.Helper()
	var msgs []stream.Message
	for i := first; i < first+n; i++ {
		msgs = append(msgs, msg(topic, "k"+strconv.Itoa(i%4), i))
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// Stop ends the consumption, waits for consume to return (nil or
// context.Canceled; anything else fails the test) and closes the
// subscriber. Later calls do nothing.
func (c *Consumer) Stop(t testing.TB) {
	t.Helper()
	if c.stopped {
		return
	}
	c.stopped = true
	c.cancel()
	select {
	case <-c.done:
		if c.err != nil && !errors.Is(c.err, context.Canceled) {
			t.Errorf("Consume returned %v, want nil or context.Canceled once its context ended", c.err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("Consume did not return within 60s of its context ending")
	}
	if err := c.sub.Close(); err != nil && !errors.Is(err, stream.ErrClosed) {
		t.Errorf("Subscriber.Close: %v", err)
	}
}

// recorder collects handled messages.
type recorder struct {
	mu   sync.Mutex
	msgs []stream.Message
}

func (r *recorder) add(m stream.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []stream.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// waitAcked waits until *acked, guarded by mu, holds at least n entries.
func (s *suite) waitAcked(t *testing.T, mu *sync.Mutex, acked *[]int, n int) {
	t.Helper()
	s.waitFor(t, "all messages acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(*acked) >= n
	})
}

// waitFor polls cond until it holds or the suite's deadline passes.
func (s *suite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(s.o.Deadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", s.o.Deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// republishWithDedupHeader: an event published again under its own event id
// but with stream.DedupHeader (a dead-letter replay) reaches consumers like
// the original, and the header itself is not delivered.
func (s *suite) republishWithDedupHeader(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	id := uuid.NewString()
	original := stream.Message{Topic: topic, Key: "k", Headers: []stream.Header{{Key: "ce_id", Value: id}}, Value: []byte("original")}
	again := original
	again.Headers = []stream.Header{{Key: "ce_id", Value: id}, {Key: stream.DedupHeader, Value: id + "/replay"}}
	again.Value = []byte("again")
	if err := p.Publish(ctx, original); err != nil {
		t.Fatalf("Publish(original): %v", err)
	}
	if err := p.Publish(ctx, again); err != nil {
		t.Fatalf("Publish(again): %v", err)
	}
	rec, _ := record(t, b, topic, Unique("g"))
	s.waitFor(t, "both publications", func() bool { return rec.len() >= 2 })
	got := rec.snapshot()
	if len(got) != 2 || string(got[0].Value) != "original" || string(got[1].Value) != "again" {
		t.Fatalf("got %d messages %q..., want original then again", len(got), got[0].Value)
	}
	for _, m := range got {
		if want, have := []stream.Header{{Key: "ce_id", Value: id}}, sortedHeaders(m.Headers); !slices.Equal(want, have) {
			t.Errorf("%s: headers %v, want %v", m.Value, have, want)
		}
	}
}

func (s *suite) headersRoundTrip(t *testing.T) {
	b, topic, p := s.setup(t)
	tests := []struct {
		name string
		msg  stream.Message
	}{
		{"cloudevents", stream.Message{
			Topic: topic, Key: "user-1",
			Headers: []stream.Header{
				{Key: "ce_specversion", Value: "1.0"},
				{Key: "ce_id", Value: uuid.NewString()},
				{Key: "ce_type", Value: "io.herald.test.v1"},
				{Key: "ce_source", Value: "/streamtest"},
				{Key: "content-type", Value: "application/json"},
				{Key: "traceparent", Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
				{Key: "Mixed-Case", Value: "kept as is"},
			},
			Value: []byte(`{"hello":"world"}`),
		}},
		{"no headers, empty key", stream.Message{Topic: topic, Value: []byte("bare")}},
		{"unicode and empty value", stream.Message{
			Topic: topic, Key: "ключ",
			Headers: []stream.Header{{Key: "note", Value: "grüße ✓"}, {Key: "empty", Value: ""}},
		}},
	}
	ctx := s.ctx(t)
	for _, tc := range tests {
		if err := p.Publish(ctx, tc.msg); err != nil {
			t.Fatalf("Publish(%s): %v", tc.name, err)
		}
	}
	rec, _ := record(t, b, topic, Unique("g"))
	s.waitFor(t, fmt.Sprintf("%d messages", len(tests)), func() bool { return rec.len() >= len(tests) })
	got := rec.snapshot()
	for _, tc := range tests {
		i := slices.IndexFunc(got, func(m stream.Message) bool { return string(m.Value) == string(tc.msg.Value) && m.Key == tc.msg.Key })
		if i < 0 {
			t.Errorf("%s: not received (got %d messages)", tc.name, len(got))
			continue
		}
		m := got[i]
		if m.Topic != topic {
			t.Errorf("%s: Topic = %q, want %q", tc.name, m.Topic, topic)
		}
		if want, have := sortedHeaders(tc.msg.Headers), sortedHeaders(m.Headers); !slices.Equal(want, have) {
			t.Errorf("%s: headers\n got  %v\n want %v", tc.name, have, want)
		}
		if len(m.Value) != len(tc.msg.Value) {
			t.Errorf("%s: value %q, want %q", tc.name, m.Value, tc.msg.Value)
		}
	}
}

// sortedHeaders orders headers by key, keeping the order of equal keys (NATS
// headers are a map, so only per-name order survives there).
func sortedHeaders(hs []stream.Header) []stream.Header {
	out := slices.Clone(hs)
	slices.SortStableFunc(out, func(a, b stream.Header) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	if out == nil {
		out = []stream.Header{}
	}
	return out
}

func (s *suite) perKeyOrder(t *testing.T) {
	b, topic, p := s.setup(t)
	const keys, perKey = 12, 20
	ctx := s.ctx(t)
	// Interleave keys, and mix single publishes with batches so both paths
	// keep order.
	var batch []stream.Message
	for i := range perKey {
		for k := range keys {
			m := msg(topic, "key-"+strconv.Itoa(k), i)
			if k%3 == 0 {
				if err := p.Publish(ctx, m); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				continue
			}
			batch = append(batch, m)
		}
		if i%5 == 4 {
			if err := p.Publish(ctx, batch...); err != nil {
				t.Fatalf("Publish batch: %v", err)
			}
			batch = nil
		}
	}
	rec, _ := record(t, b, topic, Unique("g"))
	s.waitFor(t, "all messages", func() bool { return rec.len() >= keys*perKey })
	bykey := map[string][]int{}
	for _, m := range rec.snapshot() {
		bykey[m.Key] = append(bykey[m.Key], seqOf(t, m))
	}
	for k := range keys {
		key := "key-" + strconv.Itoa(k)
		got := bykey[key]
		want := make([]int, perKey)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) {
			t.Errorf("key %s delivered in order %v, want %v", key, got, want)
		}
	}
}

func (s *suite) retryDoesNotSkip(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	const n, failing, failures = 6, 2, 3
	publishOnKey(ctx, t, p, topic, "retry-key", n)
	var (
		mu       sync.Mutex
		attempts = map[int]int{}
		calls    []int // every handler call, in call order
		acked    []int
	)
	StartConsumer(t, b, topic, Unique("g"), func(_ context.Context, m stream.Message) error {
		seq := seqOf(t, m)
		mu.Lock()
		defer mu.Unlock()
		attempts[seq]++
		calls = append(calls, seq)
		if seq == failing && attempts[seq] <= failures {
			return fmt.Errorf("dependency down (attempt %d)", attempts[seq])
		}
		acked = append(acked, seq)
		return nil
	})
	s.waitAcked(t, &mu, &acked, n)
	mu.Lock()
	defer mu.Unlock()
	if attempts[failing] != failures+1 {
		t.Errorf("failing message handled %d times, want %d (retried until it succeeded)", attempts[failing], failures+1)
	}
	want := []int{0, 1, 2, 2, 2, 2, 3, 4, 5}
	if !slices.Equal(calls, want) {
		t.Errorf("handler calls %v, want %v: a failing message must hold back the ones behind it", calls, want)
	}
}

// batchPartialProgress: a BatchHandler that reports part of its batch done
// and fails the next message keeps the done part (never handed again) and
// gets the failed message and everything behind it again, in order.
func (s *suite) batchPartialProgress(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	const n, failing = 8, 3
	publishOnKey(ctx, t, p, topic, "batch-key", n)
	var (
		mu     sync.Mutex
		failed bool
		acked  []int
	)
	StartConsuming(t, b, topic, Unique("g"), func(ctx context.Context, sub stream.Subscriber) error {
		return sub.ConsumeBatches(ctx, func(_ context.Context, batch []stream.Message) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			for i, m := range batch {
				if seq := seqOf(t, m); seq == failing && !failed {
					failed = true
					return i, fmt.Errorf("dependency down at %d", seq)
				}
				acked = append(acked, seqOf(t, m))
			}
			return len(batch), nil
		})
	})
	s.waitAcked(t, &mu, &acked, n)
	mu.Lock()
	defer mu.Unlock()
	want := []int{0, 1, 2, 3, 4, 5, 6, 7}
	if !failed || !slices.Equal(acked, want) {
		t.Errorf("acknowledged %v (failure injected: %v), want %v: the done part kept once, the rest again in order", acked, failed, want)
	}
}

func (s *suite) redeliveryAfterCrash(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	const n, crashAt = 10, 4
	var msgs []stream.Message
	for i := range n {
		msgs = append(msgs, msg(topic, "crash-key", i))
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	group := Unique("g")

	// The first member acknowledges messages before crashAt, then "crashes"
	// while handling crashAt: it stops its own consumer without acknowledging.
	var first recorder
	var crashed atomic.Bool
	c1 := StartConsumer(t, b, topic, group, func(ctx context.Context, m stream.Message) error {
		if seqOf(t, m) >= crashAt {
			crashed.Store(true)
			<-ctx.Done() // hold the message until the member is stopped
			return ctx.Err()
		}
		first.add(m)
		return nil
	})
	s.waitFor(t, "the first member to reach the crash point", crashed.Load)
	c1.Stop(t)

	var second recorder
	StartConsumer(t, b, topic, group, func(_ context.Context, m stream.Message) error {
		second.add(m)
		return nil
	})
	s.waitFor(t, "the last message to reach the second member", func() bool {
		return slices.ContainsFunc(second.snapshot(), func(m stream.Message) bool { return seqOf(t, m) == n-1 })
	})
	var got []int
	for _, m := range second.snapshot() {
		got = append(got, seqOf(t, m))
	}
	// At least once: the second member may see acknowledged messages again,
	// but it must see the unacknowledged ones, in order, and nothing lost.
	if len(got) == 0 || got[0] > crashAt {
		t.Fatalf("second member got %v, want it to start at or before %d", got, crashAt)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Errorf("second member got %v: want a gapless ascending run ending at %d", got, n-1)
			break
		}
	}
	if len(first.snapshot()) != crashAt {
		t.Errorf("first member acknowledged %d messages, want %d", len(first.snapshot()), crashAt)
	}
}

func (s *suite) loadSharing(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	group := Unique("g")
	var recs [2]recorder
	for i := range recs {
		r := &recs[i]
		StartConsumer(t, b, topic, group, func(_ context.Context, m stream.Message) error {
			r.add(m)
			return nil
		})
	}
	// Keep publishing across many keys until both members have work: a
	// member that joins later (Kafka rebalance) gets its share of what
	// follows.
	published := map[string]bool{}
	deadline := time.Now().Add(s.o.Deadline)
	for round := 0; recs[0].len() == 0 || recs[1].len() == 0; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %s of publishing, members got %d and %d messages: no load sharing", s.o.Deadline, recs[0].len(), recs[1].len())
		}
		var batch []stream.Message
		for k := range 16 {
			m := msg(topic, "share-"+strconv.Itoa(k), round)
			published[string(m.Value)] = true
			batch = append(batch, m)
		}
		if err := p.Publish(ctx, batch...); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	union := func() map[string]bool {
		u := map[string]bool{}
		for i := range recs {
			for _, m := range recs[i].snapshot() {
				u[string(m.Value)] = true
			}
		}
		return u
	}
	s.waitFor(t, "every published message to reach a member", func() bool {
		u := union()
		for v := range published {
			if !u[v] {
				return false
			}
		}
		return true
	})
	t.Logf("%d messages shared as %d and %d", len(published), recs[0].len(), recs[1].len())
}

func (s *suite) groupsAreIndependent(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	const n = 20
	publishSeq(ctx, t, p, topic, 0, n)
	var recs [2]*recorder
	for i := range recs {
		recs[i], _ = record(t, b, topic, Unique("g"))
	}
	for i := range recs {
		s.waitFor(t, fmt.Sprintf("group %d to get all %d messages", i, n), func() bool { return recs[i].len() >= n })
	}
}

func (s *suite) publishAfterClose(t *testing.T) {
	_, topic, p := s.setup(t)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := p.Publish(s.ctx(t), msg(topic, "k", 0))
	if !errors.Is(err, stream.ErrClosed) {
		t.Errorf("Publish after Close = %v, want stream.ErrClosed", err)
	}
	if err := p.Close(); err != nil && !errors.Is(err, stream.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// closeEndsConsume: closing a subscriber ends its running Consume calls,
// which return stream.ErrClosed, and a later Consume refuses to start.
func (s *suite) closeEndsConsume(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	sub, err := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: Unique("g")})
	if err != nil {
		t.Fatalf("Subscriber: %v", err)
	}
	got := make(chan string, 1)
	done := Consume(ctx, sub, got)
	// Once a message arrived, Consume is surely running.
	publishSeq(ctx, t, p, topic, 0, 1)
	select {
	case <-got:
	case err := <-done:
		t.Fatalf("Consume returned %v before Close", err)
	case <-ctx.Done():
		t.Fatalf("no message within %s", s.o.Deadline)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, stream.ErrClosed) {
			t.Errorf("Consume after Close returned %v, want stream.ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatalf("Consume still running %s after Close", s.o.Deadline)
	}
	if err := sub.Consume(ctx, func(context.Context, stream.Message) error { return nil }); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("Consume on a closed subscriber = %v, want stream.ErrClosed", err)
	}
}

// subscriberNeedsTopicAndGroup: no backend opens a subscriber without a
// topic or a group (stream.SubscribeOptions.Check).
func (s *suite) subscriberNeedsTopicAndGroup(t *testing.T) {
	b := s.newBroker(t)
	t.Cleanup(func() { _ = b.Close() })
	for _, opts := range []stream.SubscribeOptions{{Group: Unique("g")}, {Topic: Unique("topic")}, {}} {
		if sub, err := b.Subscriber(opts); err == nil {
			_ = sub.Close()
			t.Errorf("Subscriber(%+v) succeeded, want an error", opts)
		}
	}
}

func (s *suite) publishWhileDown(t *testing.T) {
	if s.o.Stoppable == nil {
		t.Skip("backend gave no way to stop its broker")
	}
	b, stop := s.o.Stoppable(t)
	t.Cleanup(func() { _ = b.Close() })
	ctx := s.ctx(t)
	topic := Unique("down")
	if err := b.EnsureTopic(ctx, topic); err != nil {
		t.Fatalf("EnsureTopic: %v", err)
	}
	p, err := b.Publisher()
	if err != nil {
		t.Fatalf("Publisher: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.Publish(ctx, msg(topic, "k", 0)); err != nil {
		t.Fatalf("Publish while up: %v", err)
	}
	stop(t)

	// bounded runs f and fails the test if it has not returned in time: a
	// hang detector, not a speed claim.
	bounded := func(what string, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			return err
		case <-time.After(s.o.Deadline):
			t.Fatalf("%s still blocked %s after the broker stopped", what, s.o.Deadline)
			return nil
		}
	}
	tests := []struct {
		name    string
		timeout time.Duration // 0: a context without a deadline
	}{
		{"context with deadline", 3 * time.Second},
		{"context without deadline", 0},
	}
	for i, tc := range tests {
		err := bounded("Publish ("+tc.name+")", func() error {
			pctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				pctx, cancel = context.WithTimeout(pctx, tc.timeout)
				defer cancel()
			}
			return p.Publish(pctx, msg(topic, "k", i+1))
		})
		if err == nil {
			t.Errorf("Publish (%s) with the broker down returned nil, want an error", tc.name)
		}
	}
	err = bounded("Ping", func() error {
		pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return b.Ping(pctx)
	})
	if err == nil {
		t.Errorf("Ping with the broker down returned nil, want an error")
	}
}

// tailFromTheEnd: Tail starts at the end of the topic as it is when Tail
// starts, every tail sees every message published after it is ready (a
// broadcast, no group), in order per key, and Tail returns nil once its
// context ends.
func (s *suite) tailFromTheEnd(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	const before, after = 3, 12
	publishSeq(ctx, t, p, topic, 0, before)

	type tail struct {
		rec    recorder
		cancel context.CancelFunc
		done   chan error
	}
	tails := make([]*tail, 2)
	for i := range tails {
		tl := &tail{done: make(chan error, 1)}
		tails[i] = tl
		tctx, cancel := context.WithCancel(ctx)
		tl.cancel = cancel
		t.Cleanup(cancel)
		ready := make(chan struct{})
		go func() { tl.done <- b.Tail(tctx, topic, func() { close(ready) }, tl.rec.add) }()
		select {
		case <-ready:
		case err := <-tl.done:
			t.Fatalf("tail %d ended before it was ready: %v", i, err)
		case <-ctx.Done():
			t.Fatalf("tail %d not ready within %s", i, s.o.Deadline)
		}
	}
	publishSeq(ctx, t, p, topic, before, after)
	for i, tl := range tails {
		s.waitFor(t, fmt.Sprintf("tail %d to see the %d messages published after it was ready", i, after),
			func() bool { return tl.rec.len() >= after })
		bykey := map[string][]int{}
		for _, m := range tl.rec.snapshot() {
			if m.Topic != topic {
				t.Errorf("tail %d: Topic = %q, want %q", i, m.Topic, topic)
			}
			seq := seqOf(t, m)
			if seq < before {
				t.Errorf("tail %d got message %d, published before it started", i, seq)
			}
			bykey[m.Key] = append(bykey[m.Key], seq)
		}
		for k, seqs := range bykey {
			if !slices.IsSorted(seqs) {
				t.Errorf("tail %d: key %s delivered in order %v", i, k, seqs)
			}
		}
		tl.cancel()
		select {
		case err := <-tl.done:
			if err != nil {
				t.Errorf("tail %d returned %v once its context ended, want nil", i, err)
			}
		case <-time.After(s.o.Deadline):
			t.Errorf("tail %d did not return within %s of its context ending", i, s.o.Deadline)
		}
	}
}

// lag: a group that read everything it was given has no lag; what is
// published while it is away is its lag.
func (s *suite) lag(t *testing.T) {
	b, topic, p := s.setup(t)
	ctx := s.ctx(t)
	group := Unique("g")
	const read, behind = 6, 4
	publishSeq(ctx, t, p, topic, 0, read)
	rec, c := record(t, b, topic, group)
	s.waitFor(t, "the group to read every message", func() bool { return rec.len() >= read })
	s.waitForLag(t, b, topic, group, 0)
	c.Stop(t)
	publishSeq(ctx, t, p, topic, read, behind)
	s.waitForLag(t, b, topic, group, behind)
}

// waitForLag polls Lag until it reports want (acknowledgements and the
// broker's bookkeeping of them are asynchronous).
func (s *suite) waitForLag(t *testing.T, b stream.Broker, topic, group string, want int64) {
	t.Helper()
	var (
		got int64
		err error
	)
	defer func() {
		if t.Failed() {
			t.Logf("last Lag(%s, %s) = %d, %v", topic, group, got, err)
		}
	}()
	s.waitFor(t, fmt.Sprintf("lag %d", want), func() bool {
		// A context per call, so that the last answer is not merely the
		// suite's deadline running out.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err = b.Lag(ctx, topic, group)
		return err == nil && got == want
	})
}
