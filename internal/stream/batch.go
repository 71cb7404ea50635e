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
