package kafka

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/internal/stream"
)

// Lag returns how many records of topic the consumer group has not yet
// committed: the sum over partitions of end offset minus committed offset
// (kadm's calculation; a partition the group never committed counts from the
// log start). It is for metrics, not for correctness.
func (b *broker) Lag(ctx context.Context, topic, group string) (int64, error) {
	if b.closed.Load() {
		return 0, stream.ErrClosed
	}
	lags, err := b.admin.Lag(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	gl, ok := lags[group]
	if !ok {
		return 0, fmt.Errorf("kafka: lag of %s: group not described", group)
	}
	if gl.DescribeErr != nil {
		return 0, fmt.Errorf("kafka: describe %s: %w", group, gl.DescribeErr)
	}
	if gl.FetchErr != nil {
		return 0, fmt.Errorf("kafka: offsets of %s: %w", group, gl.FetchErr)
	}
	var total int64
	for _, partitions := range gl.Lag {
		for _, l := range partitions {
			if l.Topic != topic {
				continue
			}
			if l.Err != nil {
				return 0, fmt.Errorf("kafka: lag of %s on %s[%d]: %w", group, topic, l.Partition, l.Err)
			}
			if l.Lag > 0 {
				total += l.Lag
			}
		}
	}
	return total, nil
}
