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

// Positions reads, per partition of topic, the high watermark (End), the
// log start, and group's committed offset (Acked; the log start when it
// committed nothing or less than what retention kept).
func (b *broker) Positions(ctx context.Context, topic, group string) (map[int32]stream.PartitionState, error) {
	if b.closed.Load() {
		return nil, stream.ErrClosed
	}
	ends, err := b.admin.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: end offsets of %s: %w", topic, err)
	}
	starts, err := b.admin.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: start offsets of %s: %w", topic, err)
	}
	committed, err := b.admin.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: offsets of %s: %w", group, err)
	}
	out := map[int32]stream.PartitionState{}
	for p, end := range ends[topic] {
		start := starts[topic][p].Offset
		acked := start
		if c, ok := committed.Lookup(topic, p); ok && c.At > acked {
			acked = c.At
		}
		out[p] = stream.PartitionState{End: end.Offset, Acked: acked, Total: end.Offset - start, Pending: max(0, end.Offset-acked)}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kafka: topic %s has no partitions", topic)
	}
	return out, nil
}
