package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/stream"
)

// Tail reads topic from its end, as it is when Tail starts, without a
// consumer group: every caller sees every message published afterwards, which
// is what a broadcast to live listeners needs (each router instance fans the
// NotificationStatus stream out to its own subscribers). Nothing is
// committed; a restarted tail starts again at the end.
//
// Tail waits (retrying with backoff) until the topic exists and its end
// offsets are known, then calls ready once and h for every record, one at a
// time, in order within each partition. It returns nil when ctx ends.
// Partitions added after Tail started are not read.
func (b *broker) Tail(ctx context.Context, topic string, ready func(), h func(stream.Message)) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	log := b.log.With("topic", topic, "mode", "tail")
	var offsets map[string]map[int32]kgo.Offset
	wait := 100 * time.Millisecond
	for {
		ends, err := b.admin.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			offsets = ends.KOffsets()
			if len(offsets[topic]) > 0 {
				break
			}
			err = fmt.Errorf("topic %s has no partitions", topic)
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("kafka tail: end offsets not available yet", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}

	cl, err := kgo.NewClient(append(b.clientOpts(), kgo.ConsumePartitions(offsets))...)
	if err != nil {
		return fmt.Errorf("kafka: tail client: %w", err)
	}
	defer cl.Close()
	if ready != nil {
		ready()
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return stream.ErrClosed
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Warn("kafka tail: fetch failed", "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			h(toMessage(r))
		})
	}
}
