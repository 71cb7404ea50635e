package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/pause"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/internal/consume"
)

func (b *broker) Subscriber(opts stream.SubscribeOptions) (stream.Subscriber, error) {
	if b.closed.Load() {
		return nil, stream.ErrClosed
	}
	if err := opts.Check(); err != nil {
		return nil, err
	}
	if err := validTopic(opts.Topic); err != nil {
		return nil, err
	}
	return &subscriber{b: b, opts: opts}, nil
}

type subscriber struct {
	b             *broker
	opts          stream.SubscribeOptions
	consume.Calls // Start, Close, Closed

	running atomic.Int32 // Consume calls past waiting for the topic
}

// Consuming says whether a Consume call runs its partition loops. A
// JetStream durable consumer belongs to no member: a restarted process
// reads its partitions at once, there is nothing to wait for.
func (s *subscriber) Consuming(context.Context) error {
	if s.running.Load() == 0 {
		return errors.New("not consuming: waiting for the topic")
	}
	return nil
}

// durable names the group's consumer of one partition. Characters a durable
// name may not hold become '_'.
func durable(group string, partition int) string {
	clean := strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' || r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, group)
	if clean != group {
		clean += fmt.Sprintf("_%08x", hash32(group))
	}
	return clean + "_p" + strconv.Itoa(partition)
}

// ConsumeBatches is Consume with batches of one (see stream.Subscriber).
func (s *subscriber) ConsumeBatches(ctx context.Context, h stream.BatchHandler) error {
	return s.Consume(ctx, func(ctx context.Context, m stream.Message) error {
		_, err := h(ctx, []stream.Message{m})
		return err
	})
}

// Consume joins the group and handles messages until ctx ends (then it
// returns nil) or the subscriber is closed. Handlers run concurrently for
// different partitions, one at a time per partition.
func (s *subscriber) Consume(ctx context.Context, h stream.Handler) error {
	ctx, end, err := s.Start(ctx, &s.b.closed)
	if err != nil {
		return err
	}
	defer end()

	log := s.b.log.With("topic", s.opts.Topic, "group", s.opts.Group)
	// The topic may not exist yet or the server may be down: wait, do not fail.
	var n int
	for attempt := 1; ; attempt++ {
		var err error
		if n, err = s.b.partitions(ctx, s.opts.Topic); err == nil {
			break
		}
		if s.b.closed.Load() {
			return stream.ErrClosed
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("waiting for topic", "err", err)
		if !pause.For(ctx, s.b.retryDelay(attempt)) {
			return nil
		}
	}
	s.running.Add(1)
	defer s.running.Add(-1)
	var wg sync.WaitGroup
	for p := range n {
		wg.Go(func() { s.partitionLoop(ctx, p, h, log.With("partition", p)) })
	}
	wg.Wait()
	if s.Closed() || s.b.closed.Load() {
		return stream.ErrClosed
	}
	return nil
}

// partitionLoop handles one partition's messages for this member.
func (s *subscriber) partitionLoop(ctx context.Context, p int, h stream.Handler, log *slog.Logger) {
	cfg := jetstream.ConsumerConfig{
		Durable:           durable(s.opts.Group, p),
		Description:       "Herald group " + s.opts.Group + " on " + subject(s.opts.Topic, p),
		FilterSubject:     subject(s.opts.Topic, p),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           s.b.cfg.AckWait,
		MaxDeliver:        -1,
		MaxAckPending:     1, // strict order within the partition, across the group
		InactiveThreshold: s.b.cfg.InactiveThreshold,
	}
	for attempt := 1; ctx.Err() == nil && !s.b.closed.Load(); attempt++ {
		cons, err := s.b.js.CreateOrUpdateConsumer(ctx, StreamName(s.opts.Topic), cfg)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("create consumer failed", "err", err)
			}
			pause.For(ctx, s.b.retryDelay(attempt))
			continue
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(1))
		if err != nil {
			log.Warn("pull failed", "err", err)
			pause.For(ctx, s.b.retryDelay(attempt))
			continue
		}
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				if ctx.Err() != nil || s.b.closed.Load() {
					it.Stop()
					return
				}
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) ||
					errors.Is(err, jetstream.ErrConsumerDeleted) ||
					errors.Is(err, jetstream.ErrConsumerNotFound) {
					log.Warn("pull ended, resubscribing", "err", err)
					it.Stop()
					break
				}
				log.Debug("pull", "err", err) // heartbeats missed while disconnected etc.
				continue
			}
			attempt = 0
			s.handle(ctx, p, m, h, log)
		}
		pause.For(ctx, s.b.retryDelay(attempt+1))
	}
}

// handle runs h on m and settles m: ack on success, a delayed nak on error
// (the message stays the partition's one outstanding message), an immediate
// nak when the member is stopping so another member takes over at once.
func (s *subscriber) handle(ctx context.Context, p int, m jetstream.Msg, h stream.Handler, log *slog.Logger) {
	// Keep the message ours while the handler works.
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(s.b.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	err := h(ctx, toMessage(s.opts.Topic, p, m))
	close(done)

	if err == nil {
		// Acknowledge even if ctx just ended: the work is done.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if aerr := m.DoubleAck(actx); aerr != nil {
			log.Warn("ack failed, message will be redelivered", "err", aerr)
		}
		return
	}
	if ctx.Err() != nil {
		_ = m.Nak()
		return
	}
	attempt := 1
	if md, merr := m.Metadata(); merr == nil {
		attempt = int(md.NumDelivered)
	}
	delay := s.b.retryDelay(attempt)
	log.Warn("handler failed, retrying", "err", err, "attempt", attempt, "retry_in", delay.String())
	if nerr := m.NakWithDelay(delay); nerr != nil {
		log.Warn("nak failed, message will be redelivered after AckWait", "err", nerr)
	}
}

// retryDelay is a capped exponential backoff with ±20% jitter.
func (b *broker) retryDelay(attempt int) time.Duration {
	d := b.cfg.RetryMin
	for i := 1; i < attempt && d < b.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, b.cfg.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
