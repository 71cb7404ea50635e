package nats

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/pause"
	"github.com/heraldhq/herald/internal/stream"
)

// Tail (stream.Broker) reads through an ordered ephemeral consumer (no
// acks; the server forgets it once Tail ends), which recreates itself after
// a gap and resumes behind the last message seen. It waits until the topic's
// stream exists, and delivers in stream order.
func (b *broker) Tail(ctx context.Context, topic string, ready func(), h func(stream.Message)) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	if err := validTopic(topic); err != nil {
		return err
	}
	log := b.log.With("topic", topic, "mode", "tail")
	var cc jetstream.ConsumeContext
	found := pause.Retry(ctx, log, "nats tail: stream not available yet", func() error {
		cons, err := b.js.OrderedConsumer(ctx, StreamName(topic), jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{topic + ".*"},
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		if err == nil {
			// Consume creates the server-side consumer before it returns,
			// so the position is fixed once it does.
			cc, err = cons.Consume(func(m jetstream.Msg) { h(toMessage(topic, partitionOf(m.Subject()), m)) })
		}
		return err
	})
	if !found {
		return nil
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
