// Package kafka is the Apache Kafka backend of internal/stream, on franz-go.
//
// EnsureTopic creates a topic with three replicas and min.insync.replicas=2
// on a cluster of three brokers or more (Config.ReplicationFactor and
// Config.MinInsyncReplicas override it), so that with acks=all an
// acknowledged record is on two brokers and one broker may be lost.
//
// Publishing uses an idempotent producer with acks=all, the message key as
// the record key (so one key stays on one partition, in order) and headers as
// record headers. Publish waits for every record's result and is bounded by
// the context and Config.PublishTimeout.
//
// Consuming joins a consumer group (cooperative-sticky balancing) with auto
// commit off. Each assigned partition gets a worker goroutine that handles its
// records in order, retrying a failing record with capped exponential backoff
// and never moving past it. Offsets are committed only up to records whose
// handler returned nil: periodically, when a partition is revoked (after its
// worker stopped) and when Consume ends. Polling blocks rebalances until the
// polled records are queued, so a revoked partition's records never reach a
// later owner's worker. A worker whose queue is full pauses fetching for its
// partition.
//
// With Config.InstanceID every consumer is a static group member: a process
// restarted under the same id takes its partitions back at once instead of
// waiting for the killed member's session to expire, and one fenced by a
// twin with the same id stops (stream.ErrFenced). Subscribers report whether
// they hold partitions (stream.Consuming) and the broker where partitions end
// (stream.Positions) for readiness and the bounded dead-letter replay.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/pause"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/internal/consume"
)

// Config configures the Kafka backend. Zero values take the defaults.
type Config struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// ClientID names the client in broker logs and quotas (default "herald").
	ClientID string
	// Partitions of topics made by EnsureTopic (default 3).
	Partitions int32
	// ReplicationFactor of topics made by EnsureTopic; 0 picks it from the
	// brokers alive at creation: 3 on a cluster of three or more, else one
	// per broker. A single broker keeps working; a cluster gets copies
	// that survive a broker's loss without anyone having to ask.
	ReplicationFactor int16
	// MinInsyncReplicas is the topics' min.insync.replicas: how many
	// replicas must have a record before an acks=all produce succeeds. 0
	// sets 2 on topics of three replicas or more (one broker may be down
	// and no acknowledged record lives on one disk only) and leaves the
	// broker's default otherwise.
	MinInsyncReplicas int
	// PublishTimeout bounds Publish when the context has no earlier
	// deadline (default 10s).
	PublishTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between handler retries
	// (defaults 200ms and 30s).
	RetryMin, RetryMax time.Duration
	// CommitInterval is how often processed offsets are committed while
	// consuming (default 1s). Revokes and shutdown commit at once.
	CommitInterval time.Duration
	// SessionTimeout after which a silent member is dropped from its group
	// (default 10s; the broker accepts 6s to 30 min by default). A killed
	// member without an InstanceID holds its partitions this long.
	SessionTimeout time.Duration
	// InstanceID, when set, makes every consumer a static member of its
	// group (KIP-345) under this id: a restarted process with the same id
	// takes its partitions back at once, without waiting for the session
	// timeout or a rebalance. Each process needs its own id: a second one
	// with the same id fences the first, whose Consume returns
	// stream.ErrFenced.
	InstanceID string
	// MaxQueued records per partition are held before its fetching pauses
	// (default 500).
	MaxQueued int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.ClientID == "" {
		c.ClientID = "herald"
	}
	if c.Partitions <= 0 {
		c.Partitions = 3
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 500
	}
	def(&c.PublishTimeout, 10*time.Second)
	def(&c.RetryMin, 200*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.CommitInterval, time.Second)
	def(&c.SessionTimeout, DefaultSessionTimeout)
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	return c
}

// DefaultSessionTimeout is shorter than franz-go's 45s: a consumer killed
// without a static instance id stalls its partitions for this long. Heartbeats
// go every 3s from their own goroutine, so a busy process does not miss it.
const DefaultSessionTimeout = 10 * time.Second

type broker struct {
	cfg    Config
	log    *slog.Logger
	client *kgo.Client // admin and ping
	admin  *kadm.Client
	closed consume.Closed
}

// New returns a broker for cfg.Brokers. It does not wait for Kafka: while the
// brokers are unreachable publishing fails within its deadline and consuming
// pauses, so a service can start before its broker.
func New(_ context.Context, cfg Config, logger *slog.Logger) (stream.Broker, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers configured")
	}
	if logger == nil {
		logger = slog.Default()
	}
	b := &broker{cfg: cfg.withDefaults(), log: logger.With("component", "stream.kafka")}
	cl, err := kgo.NewClient(b.clientOpts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka: client: %w", err)
	}
	b.client, b.admin = cl, kadm.NewClient(cl)
	return b, nil
}

func (b *broker) EnsureTopic(ctx context.Context, topic string) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	rf, err := b.replicationFactor(ctx)
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	var configs map[string]*string
	isr := minInsync(b.cfg.MinInsyncReplicas, rf)
	if isr > int(rf) {
		// No acks=all write could ever succeed on such a topic.
		return fmt.Errorf("kafka: create topic %s: min.insync.replicas %d is more than its %d replicas", topic, isr, rf)
	} else if isr > 0 {
		configs = map[string]*string{"min.insync.replicas": kadm.StringPtr(strconv.Itoa(isr))}
	}
	resp, err := b.admin.CreateTopic(ctx, b.cfg.Partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		b.log.Info("topic created", "topic", topic, "partitions", b.cfg.Partitions, "replicas", rf, "min_insync_replicas", isr) // 0: the broker's default
	case !errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	// Wait until every partition has a leader, so the first publish and
	// the first group assignment see the whole topic.
	for {
		md, err := b.admin.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && len(td.Partitions) > 0 && leadersKnown(td) {
				return nil
			}
		}
		if !pause.For(ctx, 100*time.Millisecond) {
			return fmt.Errorf("kafka: topic %s not ready: %w", topic, context.Cause(ctx))
		}
	}
}

// replicationFactor is the configured one, or else 3 on a cluster of three
// brokers or more and one per broker below that (counting the brokers
// metadata lists as alive now).
func (b *broker) replicationFactor(ctx context.Context) (int16, error) {
	if b.cfg.ReplicationFactor > 0 {
		return b.cfg.ReplicationFactor, nil
	}
	md, err := b.admin.BrokerMetadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("count brokers: %w", err)
	}
	return int16(max(1, min(3, len(md.Brokers)))), nil
}

// minInsync is the min.insync.replicas to set on a topic of rf replicas; 0
// leaves the broker's default.
func minInsync(configured int, rf int16) int {
	if configured > 0 {
		return configured
	}
	if rf >= 3 {
		return 2
	}
	return 0
}

func leadersKnown(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

func (b *broker) Ping(ctx context.Context) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	if err := b.client.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: ping: %w", err)
	}
	return nil
}

func (b *broker) Close() error { return b.closed.Close(b.client.Close) }

func (b *broker) Publisher() (stream.Publisher, error) {
	if b.closed.Load() {
		return nil, stream.ErrClosed
	}
	cl, err := kgo.NewClient(append(b.clientOpts(),
		// Idempotent writes are franz-go's default; they need acks=all.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Herald publishes one outbox batch and waits for it: lingering only
		// adds latency (about 10 ms per order, measured by bench/pipeline).
		kgo.ProducerLinger(0),
		// A record still buffered (no broker took it) fails after this.
		kgo.RecordDeliveryTimeout(b.cfg.PublishTimeout),
		kgo.ProduceRequestTimeout(b.cfg.PublishTimeout),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: producer: %w", err)
	}
	return &publisher{b: b, cl: cl}, nil
}

type publisher struct {
	b      *broker
	cl     *kgo.Client
	closed consume.Closed
}

// Publish produces msgs and waits for every result. It returns when all are
// acknowledged, when one fails, or when the context (bounded by
// PublishTimeout) ends; in the last case a record may still be written
// later, which at-least-once delivery allows.
func (p *publisher) Publish(ctx context.Context, msgs ...stream.Message) error {
	if p.closed.Load() {
		return stream.ErrClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.b.cfg.PublishTimeout)
	defer cancel()

	results := make(chan error, len(msgs))
	for _, m := range msgs {
		r := &kgo.Record{Topic: m.Topic, Value: m.Value}
		if m.Key != "" {
			r.Key = []byte(m.Key)
		}
		for _, h := range m.Headers {
			if h.Key != stream.DedupHeader { // Kafka does not deduplicate by id
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
			}
		}
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) { results <- err })
	}
	for done := 0; done < len(msgs); done++ {
		select {
		case err := <-results:
			if err != nil {
				if errors.Is(err, kgo.ErrClientClosed) {
					return stream.ErrClosed
				}
				return fmt.Errorf("kafka: publish: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("kafka: publish: %d of %d records unconfirmed: %w", len(msgs)-done, len(msgs), context.Cause(ctx))
		}
	}
	return nil
}

func (p *publisher) Close() error { return p.closed.Close(p.cl.Close) }
