package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream"
)

// isDeadLetterHeader reports whether a header was added by dead-lettering.
func isDeadLetterHeader(key string) bool {
	return key == events.HeaderDeadLetterReason || strings.HasPrefix(key, "herald_dlq_")
}

// ReplayOptions say what `notifier dlq replay` does.
type ReplayOptions struct {
	// Topic is the original topic; messages are read from Topic + ".dlq".
	// A message's herald_dlq_topic header, when present, names where it goes
	// back to (it is Topic for everything the notifier dead-lettered).
	Topic string
	// Group is the consumer group reading the dead-letter topic: replayed
	// messages are committed there, so a second replay does not repeat them.
	Group string
	Limit int // stop after this many messages; 0 = no limit
}

// ReplayResult is what a replay did, counted in dead letters.
type ReplayResult struct {
	// Replayed were republished to their topic by this run.
	Replayed int
	// Skipped were in the dead-letter topic when the run started but
	// already replayed by an earlier run (acknowledged by the group).
	Skipped int
	// Left were in the dead-letter topic, not yet replayed, when the run
	// started and still are (the limit was reached or the run was
	// stopped). Dead letters that arrived after the start are not counted:
	// the next run sees them.
	Left int
}

// errBeyondEnd holds a partition's first message past the replay's end
// unacknowledged until the replay stops: the next run reads it.
var errBeyondEnd = errors.New("dead letter past the end captured at the start")

// ReplayDLQ republishes the dead letters present when it starts to their
// original topic, without the dead-letter headers, and returns what it did.
// It first captures where each partition of the dead-letter topic ends
// (stream.Positions: Kafka high watermarks, the last JetStream sequence of
// each partition subject) and how far its group has read, then consumes
// exactly up to those ends and stops: no idle timer, so a group slow to
// join only makes it wait, and a message that is still poison, dead-lettered
// again behind the end, is not replayed again in the same run. Each message
// is acknowledged on the dead-letter topic only after the broker accepted its
// republication, so a crash replays a message twice (the consumer's inbox
// dedupes by ce_id), never zero times. It returns when everything up to the
// ends is replayed, when Limit messages are, or when ctx ends.
func ReplayDLQ(ctx context.Context, broker stream.Broker, opts ReplayOptions, logger *slog.Logger) (ReplayResult, error) {
	var res ReplayResult
	if opts.Topic == "" {
		return res, errors.New("dlq replay: topic is required")
	}
	if opts.Group == "" {
		opts.Group = "herald-notifier-dlq-replay"
	}
	logger = logging.OrDiscard(logger)
	positions, ok := broker.(stream.Positions)
	if !ok {
		return res, fmt.Errorf("dlq replay: broker %T cannot say where a topic ends", broker)
	}
	dlq := opts.Topic + events.DeadLetterSuffix
	for _, t := range []string{opts.Topic, dlq} {
		if err := broker.EnsureTopic(ctx, t); err != nil {
			return res, fmt.Errorf("dlq replay: ensure topic %s: %w", t, err)
		}
	}
	ends, err := positions.Positions(ctx, dlq, opts.Group)
	if err != nil {
		return res, fmt.Errorf("dlq replay: capture the end of %s: %w", dlq, err)
	}
	done := map[int32]bool{}
	pending := 0
	for p, st := range ends {
		res.Skipped += int(st.Total - st.Pending)
		pending += int(st.Pending)
		if st.Pending == 0 || st.Acked >= st.End {
			done[p] = true
		}
		logger.Info("dead-letter partition at start", "topic", dlq, "partition", p, "end", st.End,
			"acked", st.Acked, "messages", st.Total, "to_replay", st.Pending)
	}
	res.Left = pending
	if len(done) == len(ends) || opts.Limit < 0 {
		logger.Info("nothing to replay", "topic", dlq)
		return res, nil
	}

	pub, err := broker.Publisher()
	if err != nil {
		return res, fmt.Errorf("dlq replay: publisher: %w", err)
	}
	defer pub.Close()
	sub, err := broker.Subscriber(stream.SubscribeOptions{Topic: dlq, Group: opts.Group})
	if err != nil {
		return res, fmt.Errorf("dlq replay: subscribe %s: %w", dlq, err)
	}
	defer sub.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // handlers run per partition in parallel; the counts are global
		inflight int        // republications under way, held against Limit
	)
	finished := func() bool {
		return len(done) == len(ends) || (opts.Limit > 0 && res.Replayed >= opts.Limit)
	}
	handler := func(hctx context.Context, m stream.Message) error {
		mu.Lock()
		st, known := ends[m.Partition]
		full := opts.Limit > 0 && res.Replayed+inflight >= opts.Limit
		if !known || done[m.Partition] || m.Position >= st.End || full {
			// Past the end as of the start, or beyond the limit: leave it
			// for the next run, and stop once every partition is there (or
			// the limit is reached by the republications under way).
			if known && !done[m.Partition] && m.Position >= st.End {
				done[m.Partition] = true
			}
			if finished() {
				cancel()
			}
			mu.Unlock()
			<-hctx.Done()
			return errBeyondEnd
		}
		inflight++
		mu.Unlock()
		published := false
		defer func() {
			if !published { // the slot goes back; the message is retried
				mu.Lock()
				inflight--
				mu.Unlock()
			}
		}()

		target := m.Header(HeaderDeadLetterTopic)
		if target == "" {
			target = opts.Topic
		}
		out := stream.Message{Topic: target, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			if !isDeadLetterHeader(h.Key) {
				out.Headers = append(out.Headers, h)
			}
		}
		// A broker that drops a repeated event id (JetStream's duplicate
		// window) would acknowledge this republication and drop it: the
		// event would be lost. Its own id, fixed per dead-lettering, lets it
		// through once, and a replay repeated after a crash is still
		// dropped there (the inbox would ignore it anyway).
		out.Headers = append(out.Headers, stream.Header{Key: stream.DedupHeader,
			Value: m.Header(events.HeaderID) + "/replay/" + m.Header(HeaderDeadLetterAt)})
		if err := pub.Publish(hctx, out); err != nil {
			return fmt.Errorf("republish to %s: %w", target, err)
		}
		logger.Info("dead letter replayed", "from", dlq, "to", target, "event_id", m.Header(events.HeaderID),
			"partition", m.Partition, "position", m.Position, "reason", m.Header(events.HeaderDeadLetterReason))

		published = true
		mu.Lock()
		defer mu.Unlock()
		inflight-- // counted as replayed in the same step: no slot is free in between
		res.Replayed++
		res.Left--
		if m.Position+1 >= st.End {
			done[m.Partition] = true
		}
		if finished() {
			// Acknowledge this one, then stop: Consume acknowledges (Kafka:
			// commits) what returned nil before it returns.
			go cancel()
		}
		return nil
	}
	if err := sub.Consume(ctx, handler); err != nil && ctx.Err() == nil {
		mu.Lock()
		defer mu.Unlock()
		return res, fmt.Errorf("dlq replay: consume %s: %w", dlq, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return res, nil
}
