// Package stream is Herald's small publish/subscribe interface. Kafka
// (internal/stream/kafka) is the primary backend and NATS JetStream
// (internal/stream/nats) a drop-in alternative; internal/stream/streamtest
// holds the contract suite both must pass.
//
// Semantics every backend provides:
//   - Publish returns only after the broker has durably accepted every message
//     (Kafka: acks=all on an idempotent producer; JetStream: a publish ack), or
//     an error within the context's deadline; it never hangs on a dead broker.
//   - Messages with the same key are delivered in publish order.
//   - A subscriber group shares the work: each message goes to one member.
//   - A message is acknowledged only after its handler returns nil. While a
//     handler returns an error the same message is retried (after a backoff)
//     and nothing behind it on the same key is delivered: a dependency that is
//     down pauses work, it never skips it. Handlers decide for themselves
//     when a message is poison (and dead-letter it, returning nil).
//   - A consumer that dies without acknowledging sees its messages redelivered
//     to the group: delivery is at least once, handlers dedupe by event id.
//   - Handlers run concurrently for different partitions (one message at a
//     time per partition), so they must be safe for parallel use and return
//     once their context ends. Consume returns nil when its context ends.
//   - Publishing to a topic that does not exist fails: services call
//     EnsureTopic at start-up, retrying with backoff while the broker is
//     unreachable (internal/startup), never exiting for it.
package stream

import (
	"context"
	"errors"
	"fmt"
)

// Header is one message header. CloudEvents attributes travel as ce_* headers.
type Header struct {
	Key   string
	Value string
}

// Message is one record on a topic.
type Message struct {
	Topic   string
	Key     string
	Headers []Header
	Value   []byte
	// Partition and Position locate a consumed message (set by
	// subscribers): Kafka's partition and offset; on JetStream the
	// partition subject's index and the stream sequence. Positions grow
	// within a partition but need not be contiguous.
	Partition int32
	Position  int64
}

// PartitionState is where one partition of a topic stands for a group,
// in Message.Position terms.
type PartitionState struct {
	// End is the position just past the last message now in the partition
	// (0 when it holds none).
	End int64
	// Acked is the position just past the last message the group
	// acknowledged in order (its first unread position).
	Acked int64
	// Total is how many messages the partition holds; Pending how many of
	// them the group has not acknowledged.
	Total, Pending int64
}

// Positions is implemented by brokers that can say where each partition of
// a topic ends and how far a group has read it: what a bounded read (the
// dead-letter replay) needs to know when it is done.
type Positions interface {
	Positions(ctx context.Context, topic, group string) (map[int32]PartitionState, error)
}

// DedupHeader, when a published message carries it, is the id a broker that
// drops repeated publications (JetStream's duplicate window) deduplicates
// by, instead of the event id (ce_id). A deliberate republication of an
// event, such as a dead-letter replay, sets it so that the broker does not
// take it for a retry of the original. Backends do not deliver it.
const DedupHeader = "herald-dedup-id"

// Header returns the value of the first header named key.
func (m Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Publisher sends messages.
type Publisher interface {
	// Publish sends msgs and waits until the broker accepted all of them.
	Publish(ctx context.Context, msgs ...Message) error
	Close() error
}

// Handler processes one message. Returning nil acknowledges it.
type Handler func(ctx context.Context, m Message) error

// Subscriber consumes one topic as a member of a group (Kafka consumer group,
// JetStream durable consumer).
type Subscriber interface {
	// Consume blocks, calling h for each message, until ctx is done or a
	// non-retryable backend error occurs.
	Consume(ctx context.Context, h Handler) error
	// ConsumeBatches is Consume with a handler that gets consecutive
	// messages of one partition at once: what one poll returned on Kafka;
	// always one on JetStream, which holds one unacknowledged message per
	// partition to keep the order across members. The guarantees are
	// Consume's, per message.
	ConsumeBatches(ctx context.Context, h BatchHandler) error
	Close() error
}

// Consuming is implemented by subscribers that can tell whether they are
// doing their share: readiness reports "not consuming" while they are not.
type Consuming interface {
	// Consuming returns nil while a Consume call of this subscriber runs and
	// holds what it should (Kafka: assigned partitions, or a place in a
	// stable group that has none left for it); otherwise an error whose
	// text, fit for a readiness answer, says why not.
	Consuming(ctx context.Context) error
}

// ErrFenced is returned by Consume when another member with the same
// static instance id took this member's place in its group.
var ErrFenced = errors.New("stream: fenced by another member with the same instance id")

// SubscribeOptions name what a subscriber reads.
type SubscribeOptions struct {
	Topic string
	Group string
}

// Check reports options no backend can subscribe with: a topic and a group
// are always needed. A backend adds its own rules on top (JetStream's on
// subject names).
func (o SubscribeOptions) Check() error {
	if o.Topic == "" || o.Group == "" {
		return fmt.Errorf("stream: subscriber needs a topic and a group (topic %q, group %q)", o.Topic, o.Group)
	}
	return nil
}

// Broker opens publishers and subscribers on one backend.
type Broker interface {
	Publisher() (Publisher, error)
	Subscriber(opts SubscribeOptions) (Subscriber, error)
	// EnsureTopic creates a topic (Kafka topic, JetStream stream) if missing.
	EnsureTopic(ctx context.Context, topic string) error
	// Ping checks the broker can be reached (for readiness).
	Ping(ctx context.Context) error
	// Tail reads topic from its end, as it is when Tail starts, without a
	// group: every caller sees every message published afterwards (what a
	// broadcast to live listeners needs: each router instance fans the
	// NotificationStatus stream out to its own subscribers). Nothing is
	// acknowledged; a restarted tail starts again at the end. Tail waits,
	// retrying with backoff, until the topic can be read, then calls ready
	// (when not nil) once and h for every message, one at a time, in order
	// within each partition. It returns nil when ctx ends.
	Tail(ctx context.Context, topic string, ready func(), h func(Message)) error
	// Lag returns how many messages of topic group has not acknowledged
	// yet. It is for metrics, not for correctness. A group the broker does
	// not know yet is an error on Kafka and 0 on JetStream.
	Lag(ctx context.Context, topic, group string) (int64, error)
	Close() error
}

// ErrClosed is returned by operations on a closed publisher or subscriber.
var ErrClosed = errors.New("stream: closed")
