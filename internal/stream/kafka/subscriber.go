package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	return &subscriber{b: b, opts: opts}, nil
}

type subscriber struct {
	b             *broker
	opts          stream.SubscribeOptions
	consume.Calls // Start, Close, Closed

	active atomic.Pointer[consumer] // the running Consume, for Consuming
}

type tp struct {
	topic     string
	partition int32
}

// worker handles one assigned partition's records in order.
type worker struct {
	tp     tp
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	batch []*kgo.Record // run's buffer: the records handed to one handle call

	mu        sync.Mutex
	queue     []*kgo.Record
	paused    bool
	processed *kgo.Record // last record whose handler returned nil
	committed int64       // offset committed for this partition (next to read)
}

// consumer is one Consume call: one group member.
type consumer struct {
	s   *subscriber
	h   stream.BatchHandler
	log *slog.Logger
	cl  *kgo.Client
	ctx context.Context // the Consume context: workers derive from it

	mu      sync.Mutex
	workers map[tp]*worker
	fenced  atomic.Pointer[error] // set when a newer member took our instance id
}

// maxBatch bounds the records one BatchHandler call gets: what a poll
// returned for the partition, up to this many.
const maxBatch = 256

// Consume joins the group and handles records until ctx ends (then it
// returns nil after committing what was processed) or the subscriber is
// closed. Handlers run concurrently for different partitions, one record at
// a time per partition, and must return once their context ends.
func (s *subscriber) Consume(ctx context.Context, h stream.Handler) error {
	return s.consume(ctx, stream.OneAtATime(h))
}

// ConsumeBatches is Consume with a handler that gets a partition's queued
// records (up to maxBatch) at once.
func (s *subscriber) ConsumeBatches(ctx context.Context, h stream.BatchHandler) error {
	return s.consume(ctx, h)
}

func (s *subscriber) consume(ctx context.Context, h stream.BatchHandler) error {
	ctx, end, err := s.Start(ctx, &s.b.closed)
	if err != nil {
		return err
	}
	defer end()
	// A fenced member ends its own call.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	c := &consumer{
		s: s, h: h, ctx: ctx,
		log:     s.b.log.With("topic", s.opts.Topic, "group", s.opts.Group),
		workers: map[tp]*worker{},
	}
	opts := append(s.b.clientOpts(),
		kgo.ConsumerGroup(s.opts.Group),
		kgo.ConsumeTopics(s.opts.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	)
	opts = append(opts, kgo.SessionTimeout(s.b.cfg.SessionTimeout))
	if s.b.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.b.cfg.InstanceID),
			kgo.WithHooks(fenceHook{func(err error) {
				c.fenced.Store(&err)
				cancel()
			}}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: consumer: %w", err)
	}
	c.cl = cl
	s.active.Store(c)
	defer s.active.CompareAndSwap(c, nil)

	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		t := time.NewTicker(s.b.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.commit(ctx, nil)
			}
		}
	}()

	for {
		fetches := cl.PollRecords(ctx, 1000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.log.Warn("fetch failed", "partition", p, "err", err)
		})
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) > 0 {
				c.dispatch(tp{ftp.Topic, ftp.Partition}, ftp.Records)
			}
		})
		cl.AllowRebalance()
	}

	// Stop the workers (their context is ctx), commit what they finished,
	// then leave the group so the partitions move on at once.
	<-commitDone
	c.stopWorkers(nil, true)
	cl.CloseAllowingRebalance()
	if errp := c.fenced.Load(); errp != nil {
		c.log.Error("fenced: another consumer joined the group with this instance id; stopping",
			"instance_id", s.b.cfg.InstanceID, "err", *errp)
		return fmt.Errorf("kafka: group %s, instance id %q: %w", s.opts.Group, s.b.cfg.InstanceID, stream.ErrFenced)
	}
	if s.Closed() {
		return stream.ErrClosed
	}
	return nil
}

// fenceHook reports the group management error that means a newer member
// took this static member's place: rejoining would only fence it in turn,
// and the two would take the partitions from each other for ever.
type fenceHook struct{ fenced func(error) }

func (h fenceHook) OnGroupManageError(err error) {
	if errors.Is(err, kerr.FencedInstanceID) {
		h.fenced(err)
	}
}

// Consuming says whether the running Consume holds partitions, or has a
// place in a stable group that has none left for it (more members than
// partitions). A member waiting for the group to rebalance (a killed
// member's session to expire, say) or fenced is not consuming.
func (s *subscriber) Consuming(ctx context.Context) error {
	c := s.active.Load()
	if c == nil {
		return errors.New("not consuming: the consumer is not running")
	}
	c.mu.Lock()
	held := len(c.workers)
	c.mu.Unlock()
	if held > 0 {
		return nil
	}
	member, _ := c.cl.GroupMetadata()
	if member == "" {
		return errors.New("not consuming: joining the group")
	}
	groups, err := s.b.admin.DescribeGroups(ctx, s.opts.Group)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		return errors.New("not consuming: no partitions assigned, the group cannot be described")
	}
	g := groups[s.opts.Group]
	if g.State == "Stable" {
		for _, m := range g.Members {
			if m.MemberID == member {
				return nil
			}
		}
	}
	return fmt.Errorf("not consuming: no partitions assigned (group %s)", g.State)
}

// dispatch queues polled records for their partition's worker.
func (c *consumer) dispatch(p tp, recs []*kgo.Record) {
	c.mu.Lock()
	w := c.workers[p]
	c.mu.Unlock()
	if w == nil {
		return // not ours (cannot happen while rebalances wait for dispatch)
	}
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	if len(w.queue) >= c.s.b.cfg.MaxQueued && !w.paused {
		w.paused = true
		c.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.partition}})
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (c *consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range assigned {
		for _, p := range parts {
			key := tp{topic, p}
			if c.workers[key] != nil {
				continue
			}
			ctx, cancel := context.WithCancel(c.ctx)
			w := &worker{tp: key, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1), committed: -1}
			c.workers[key] = w
			go c.run(w)
		}
	}
	c.log.Debug("partitions assigned", "partitions", assigned)
}

// revoked stops the revoked partitions' workers and commits what they
// processed, so the next owner starts right after it.
func (c *consumer) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.log.Debug("partitions revoked", "partitions", revoked)
	c.stopWorkers(revoked, true)
}

// lost stops the workers without committing: the partitions already belong
// to someone else.
func (c *consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.log.Warn("partitions lost", "partitions", lost)
	c.stopWorkers(lost, false)
}

// stopWorkers stops the workers of which (all when nil), optionally commits
// their processed offsets, and forgets them.
func (c *consumer) stopWorkers(which map[string][]int32, commit bool) {
	var ws []*worker
	c.mu.Lock()
	for key, w := range c.workers {
		if which != nil && !contains(which[key.topic], key.partition) {
			continue
		}
		ws = append(ws, w)
	}
	c.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
	if commit && len(ws) > 0 {
		// The Consume context may be over already: commit on a fresh,
		// bounded one.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		c.commit(ctx, ws)
		cancel()
	}
	resume := map[string][]int32{}
	c.mu.Lock()
	for _, w := range ws {
		if c.workers[w.tp] == w {
			delete(c.workers, w.tp)
		}
		w.mu.Lock()
		if w.paused {
			resume[w.tp.topic] = append(resume[w.tp.topic], w.tp.partition)
		}
		w.mu.Unlock()
	}
	c.mu.Unlock()
	if len(resume) > 0 {
		// Paused partitions stay paused across rebalances: resume them so
		// a later assignment fetches again.
		c.cl.ResumeFetchPartitions(resume)
	}
}

func contains(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// commit commits the processed offsets of ws (all current workers when nil)
// that are not committed yet.
func (c *consumer) commit(ctx context.Context, ws []*worker) {
	if ws == nil {
		c.mu.Lock()
		for _, w := range c.workers {
			ws = append(ws, w)
		}
		c.mu.Unlock()
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	type pending struct {
		w      *worker
		offset int64
	}
	var todo []pending
	for _, w := range ws {
		w.mu.Lock()
		r := w.processed
		if r != nil && r.Offset+1 > w.committed {
			if offsets[r.Topic] == nil {
				offsets[r.Topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
			todo = append(todo, pending{w, r.Offset + 1})
		}
		w.mu.Unlock()
	}
	if len(todo) == 0 {
		return
	}
	var cerr error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		cerr = commitResponseErr(resp)
	})
	if cerr != nil {
		// Not fatal: the records are processed; a later commit (or the
		// next owner re-reading them) covers it. At least once.
		if ctx.Err() == nil {
			c.log.Warn("offset commit failed", "err", cerr)
		}
		return
	}
	for _, p := range todo {
		p.w.mu.Lock()
		if p.offset > p.w.committed {
			p.w.committed = p.offset
		}
		p.w.mu.Unlock()
	}
}

// run handles the worker's queue in order until its context ends.
func (c *consumer) run(w *worker) {
	defer close(w.done)
	for {
		w.mu.Lock()
		n := min(len(w.queue), maxBatch)
		batch := append(w.batch[:0], w.queue[:n]...)
		w.batch = batch
		clear(w.queue[:n])
		w.queue = w.queue[n:]
		if w.paused && len(w.queue) <= c.s.b.cfg.MaxQueued/2 {
			w.paused = false
			c.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
		}
		w.mu.Unlock()
		if n == 0 {
			select {
			case <-w.ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		if !c.handle(w, batch) {
			return
		}
	}
}

// handle calls the handler until it has done every record of batch (true)
// or the worker stops (false), marking each done record processed. Nothing
// behind a failed record on its partition runs meanwhile: it and the rest
// of the batch are retried.
func (c *consumer) handle(w *worker, batch []*kgo.Record) bool {
	msgs := make([]stream.Message, len(batch))
	for i, r := range batch {
		msgs[i] = toMessage(r)
	}
	var bo *backoff.ExponentialBackOff // made on the first failure
	for attempt := 1; ; attempt++ {
		done, err := c.h(w.ctx, msgs)
		if err == nil {
			done = len(msgs)
		} else {
			done = max(0, min(done, len(msgs)-1)) // the failed record is not done
		}
		if done > 0 {
			w.mu.Lock()
			w.processed = batch[done-1]
			w.mu.Unlock()
			batch, msgs = batch[done:], msgs[done:]
			attempt = 1
			bo = nil
		}
		if err == nil {
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		if bo == nil {
			bo = backoff.NewExponentialBackOff()
			bo.InitialInterval = c.s.b.cfg.RetryMin
			bo.MaxInterval = c.s.b.cfg.RetryMax
		}
		r := batch[0]
		delay := bo.NextBackOff()
		c.log.Warn("handler failed, retrying", "partition", r.Partition, "offset", r.Offset,
			"attempt", attempt, "retry_in", delay.String(), "err", err)
		if !pause.For(w.ctx, delay) {
			return false
		}
	}
}

// commitResponseErr returns the first partition error of a commit response.
func commitResponseErr(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}
