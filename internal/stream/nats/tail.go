package nats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/stream"
)

// Tail reads topic from its end, as it is when Tail starts, without a
// durable consumer: every caller sees every message published afterwards,
// which is what a broadcast to live listeners needs (each router instance
// fans the NotificationStatus stream out to its own subscribers). It uses an
// ordered ephemeral consumer (no acks; the server forgets it once Tail ends),
// which recreates itself after a gap and resumes behind the last message seen.
//
// Tail waits (retrying with backoff) until the topic's stream exists, then
// calls ready once and h for every message, one at a time, in stream order.
// It returns nil when ctx ends.
func (b *broker) Tail(ctx context.Context, topic string, ready func(), h func(stream.Message)) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	if err := validTopic(topic); err != nil {
		return err
	}
	log := b.log.With("topic", topic, "mode", "tail")
	wait := 100 * time.Millisecond
	var cc jetstream.ConsumeContext
	for {
		cons, err := b.js.OrderedConsumer(ctx, StreamName(topic), jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{topic + ".*"},
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		if err == nil {
			// Consume creates the server-side consumer before it returns,
			// so the position is fixed once it does.
			cc, err = cons.Consume(func(m jetstream.Msg) { h(toMessage(topic, partitionOf(m.Subject()), m)) })
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("nats tail: stream not available yet", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
		cc.Stop()
		return nil
	case <-cc.Closed():
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("nats: tail of %s stopped", topic)
	}
}

// partitionOf reads the partition index from a partition subject
// (<topic>.<n>); -1 when it has none.
func partitionOf(subject string) int {
	i := strings.LastIndexByte(subject, '.')
	n, err := strconv.Atoi(subject[i+1:])
	if err != nil {
		return -1
	}
	return n
}
