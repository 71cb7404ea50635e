package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/pause"
	"github.com/heraldhq/herald/internal/stream"
)

// Tail (stream.Broker) reads with a client of its own, without a consumer
// group, from the end offsets it waits to learn; nothing is committed.
// Partitions added after Tail started are not read.
func (b *broker) Tail(ctx context.Context, topic string, ready func(), h func(stream.Message)) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	log := b.log.With("topic", topic, "mode", "tail")
	var offsets map[string]map[int32]kgo.Offset
	found := pause.Retry(ctx, log, "kafka tail: end offsets not available yet", func() error {
		ends, err := b.admin.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return err
		}
		offsets = ends.KOffsets()
		if len(offsets[topic]) == 0 {
			return fmt.Errorf("topic %s has no partitions", topic)
		}
		return nil
	})
	if !found {
		return nil
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
