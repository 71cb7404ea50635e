package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/events"
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
	Limit int           // stop after this many messages; 0 = no limit
	Idle  time.Duration // stop when no message came for this long (default 10s)
}

// ReplayDLQ republishes dead letters to their original topic, without the
// dead-letter headers, and returns how many it replayed. Each message is
// committed on the dead-letter topic only after the broker accepted its
// republication, so a crash replays a message twice (the consumer's inbox
// dedupes by ce_id), never zero times. It returns when Limit messages are
// replayed, when no message arrived for Idle, or when ctx ends.
func ReplayDLQ(ctx context.Context, broker stream.Broker, opts ReplayOptions, logger *slog.Logger) (int, error) {
	if opts.Topic == "" {
		return 0, errors.New("dlq replay: topic is required")
	}
	if opts.Group == "" {
		opts.Group = "herald-notifier-dlq-replay"
	}
	if opts.Idle <= 0 {
		opts.Idle = 10 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dlq := opts.Topic + events.DeadLetterSuffix
	for _, t := range []string{opts.Topic, dlq} {
		if err := broker.EnsureTopic(ctx, t); err != nil {
			return 0, fmt.Errorf("dlq replay: ensure topic %s: %w", t, err)
		}
	}
	pub, err := broker.Publisher()
	if err != nil {
		return 0, fmt.Errorf("dlq replay: publisher: %w", err)
	}
	defer pub.Close()
	sub, err := broker.Subscriber(stream.SubscribeOptions{Topic: dlq, Group: opts.Group})
	if err != nil {
		return 0, fmt.Errorf("dlq replay: subscribe %s: %w", dlq, err)
	}
	defer sub.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Only what was dead-lettered before this replay began is replayed: an
	// event that is still poison comes straight back to the dead-letter
	// topic, and replaying it again would loop for ever.
	started := time.Now()
	var (
		mu       sync.Mutex // handlers run per partition in parallel; Limit is global
		replayed int
		busy     atomic.Int32 // handlers running: a slow publish is not idleness
	)
	activity := make(chan struct{}, 1)
	handler := func(hctx context.Context, m stream.Message) error {
		busy.Add(1)
		defer busy.Add(-1)
		mu.Lock()
		defer mu.Unlock()
		if opts.Limit > 0 && replayed >= opts.Limit {
			cancel()
			return context.Canceled // not acknowledged: stays on the dlq
		}
		if at, err := time.Parse(time.RFC3339Nano, m.Header(HeaderDeadLetterAt)); err == nil && !at.Before(started) {
			logger.Info("dead letter newer than this replay; stopping", "topic", dlq, "event_id", m.Header(events.HeaderID))
			cancel()
			return context.Canceled // not acknowledged: the next replay sees it
		}
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
		replayed++
		logger.Info("dead letter replayed", "from", dlq, "to", target, "event_id", m.Header(events.HeaderID),
			"reason", m.Header(events.HeaderDeadLetterReason))
		select {
		case activity <- struct{}{}:
		default:
		}
		if opts.Limit > 0 && replayed >= opts.Limit {
			// Acknowledge this one, then stop (after the commit: Consume
			// commits what returned nil before it returns).
			go cancel()
		}
		return nil
	}
	go func() {
		// Joining the group can take a few seconds (a rebalance after the
		// previous replay left); idleness only counts from then on.
		const joinGrace = 10 * time.Second
		t := time.NewTimer(opts.Idle + joinGrace)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-activity:
				t.Reset(opts.Idle)
			case <-t.C:
				if busy.Load() > 0 {
					t.Reset(opts.Idle)
					continue
				}
				logger.Info("dead-letter topic idle; stopping", "topic", dlq, "idle", opts.Idle)
				cancel()
				return
			}
		}
	}()
	if err := sub.Consume(ctx, handler); err != nil && ctx.Err() == nil {
		return replayed, fmt.Errorf("dlq replay: consume %s: %w", dlq, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return replayed, nil
}
