package stream

import "context"

// BatchHandler processes consecutive messages of one partition, in order,
// and returns how many of them, counted from the first, are done. Returning
// err == nil means all are done; otherwise msgs[done] failed and it and
// everything after it are retried (after a backoff), as a single message
// whose Handler returned an error would be. A handler that records several
// messages in one transaction thereby acknowledges none of them before that
// transaction commits.
type BatchHandler func(ctx context.Context, msgs []Message) (done int, err error)

// BatchConsumer is implemented by subscribers that can hand a handler the
// messages a poll returned together (Kafka). The guarantees are those of
// Subscriber.Consume, per message.
type BatchConsumer interface {
	ConsumeBatches(ctx context.Context, h BatchHandler) error
}

// ConsumeBatches consumes sub with h: in batches when sub is a
// BatchConsumer, otherwise one message at a time (JetStream holds one
// unacknowledged message per partition to keep the order across members,
// so it never has a second one to add).
func ConsumeBatches(ctx context.Context, sub Subscriber, h BatchHandler) error {
	if bc, ok := sub.(BatchConsumer); ok {
		return bc.ConsumeBatches(ctx, h)
	}
	return sub.Consume(ctx, func(ctx context.Context, m Message) error {
		_, err := h(ctx, []Message{m})
		return err
	})
}

// OneAtATime turns h into a BatchHandler that calls it for each message in
// turn and stops at the first error.
func OneAtATime(h Handler) BatchHandler {
	return func(ctx context.Context, msgs []Message) (int, error) {
		for i, m := range msgs {
			if err := ctx.Err(); err != nil {
				return i, err // stopping: the rest go to the next owner
			}
			if err := h(ctx, m); err != nil {
				return i, err
			}
		}
		return len(msgs), nil
	}
}
