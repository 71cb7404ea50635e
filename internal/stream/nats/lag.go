package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/stream"
)

// Lag returns how many messages of topic the group has not yet acknowledged:
// the sum over the group's per-partition durable consumers of NumPending
// (not yet delivered) and NumAckPending (delivered, not acknowledged). A
// partition whose consumer does not exist yet counts as 0. For metrics only.
func (b *broker) Lag(ctx context.Context, topic, group string) (int64, error) {
	if b.closed.Load() {
		return 0, stream.ErrClosed
	}
	n, err := b.partitions(ctx, topic)
	if err != nil {
		return 0, err
	}
	s, err := b.js.Stream(ctx, StreamName(topic))
	if err != nil {
		return 0, fmt.Errorf("nats: lag of %s: %w", topic, err)
	}
	var total int64
	for p := range n {
		c, err := s.Consumer(ctx, durable(group, p))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("nats: lag of %s partition %d: %w", group, p, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("nats: lag of %s partition %d: %w", group, p, err)
		}
		total += int64(info.NumPending) + int64(info.NumAckPending)
	}
	return total, nil
}
