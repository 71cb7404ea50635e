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

// Positions reads, per partition subject of topic, the sequence of its last
// message (End is one past it), its message count, and the group's durable
// consumer's ack floor (Acked) and unacknowledged count (Pending: what it
// has not delivered plus what awaits an ack).
func (b *broker) Positions(ctx context.Context, topic, group string) (map[int32]stream.PartitionState, error) {
	if b.closed.Load() {
		return nil, stream.ErrClosed
	}
	n, err := b.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	s, err := b.js.Stream(ctx, StreamName(topic))
	if err != nil {
		return nil, fmt.Errorf("nats: positions of %s: %w", topic, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(topic+".>"))
	if err != nil {
		return nil, fmt.Errorf("nats: positions of %s: %w", topic, err)
	}
	out := map[int32]stream.PartitionState{}
	for p := range n {
		var st stream.PartitionState
		st.Total = int64(info.State.Subjects[subject(topic, p)])
		if st.Total > 0 {
			last, err := s.GetLastMsgForSubject(ctx, subject(topic, p))
			if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil, fmt.Errorf("nats: last message of %s: %w", subject(topic, p), err)
			}
			if last != nil {
				st.End = int64(last.Sequence) + 1
			}
		}
		st.Pending = st.Total
		c, err := s.Consumer(ctx, durable(group, p))
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		case err != nil:
			return nil, fmt.Errorf("nats: consumer of %s partition %d: %w", group, p, err)
		default:
			ci, err := c.Info(ctx)
			if err != nil {
				return nil, fmt.Errorf("nats: consumer of %s partition %d: %w", group, p, err)
			}
			st.Acked = int64(ci.AckFloor.Stream) + 1
			st.Pending = min(st.Total, int64(ci.NumPending)+int64(ci.NumAckPending))
		}
		out[int32(p)] = st
	}
	return out, nil
}
