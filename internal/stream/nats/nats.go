// Package nats is the NATS JetStream backend of internal/stream.
//
// # Layout
//
// Each topic is one stream (named after the topic, see StreamName) on file
// storage, holding the subjects "<topic>.<partition>". A message goes to
// partition fnv1a(key) mod P (keyless messages round-robin), where P is fixed when the topic is created and
// recorded in the stream's metadata (like a Kafka topic's partition count),
// so every publisher and subscriber agrees on it.
//
// # Ordering and load sharing
//
// A subscriber group owns one durable pull consumer per partition
// ("<group>_p<n>", filtered to that partition's subject) with
// MaxAckPending=1: at most one message of a partition is out at a time, in
// the whole group. Every member pulls from every partition, so members share
// the work message by message while each partition (and so each key) is
// handled strictly in order; the group processes up to P messages at once.
// A handler error is a NakWithDelay (capped exponential backoff taken from
// the delivery count): the message stays the partition's one outstanding
// message, so nothing behind it on its key passes it. A member that dies
// holding a message loses it to the group after AckWait; a member that stops
// cleanly naks it at once. While a handler runs the member sends
// "in progress" so a slow handler is not redelivered behind its back.
//
// # Durability
//
// Publish returns after the JetStream publish ack. An ack means the message
// is in the stream's file store, but JetStream fsyncs that store only every
// SyncInterval (2 minutes by default), so an OS crash (not a process crash)
// can lose acknowledged messages unless the server syncs on every write or
// the stream is replicated (Replicas 3). The embedded server Herald starts
// (Embedded) syncs on every write (SyncAlways) by default because it is a
// single node; an external server should run with `sync_interval: always`
// or R3 streams. Publishing sets Nats-Msg-Id to the stream.DedupHeader
// header, or else to the ce_id header, so a republish within the stream's
// duplicate window is dropped by the server.
//
// Headers travel as NATS headers with the same names; names starting with
// "Nats-" and the key header (KeyHeader) are reserved and not handed to
// handlers.
package nats

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/internal/consume"
)

// KeyHeader carries stream.Message.Key.
const KeyHeader = "herald-key"

// Metadata keys recorded on each stream.
const (
	metaTopic      = "herald_topic"
	metaPartitions = "herald_partitions"
)

// Config configures the JetStream backend. Zero values take the defaults.
type Config struct {
	// URL is the server URL, e.g. nats://127.0.0.1:4222 (comma-separated for
	// several servers).
	URL string
	// Name identifies the connection in server monitoring.
	Name string
	// Partitions per new topic (default 8): the group's maximum parallelism.
	// Fixed at topic creation; changing it later affects only new topics.
	Partitions int
	// Replicas per stream; 0 picks 3 when the server belongs to a cluster
	// (a JetStream cluster has three servers or more) and 1 otherwise.
	Replicas int
	// MaxAge is the stream retention (default 7 days, like Kafka's default).
	MaxAge time.Duration
	// DuplicateWindow for Nats-Msg-Id deduplication (default 2 minutes).
	DuplicateWindow time.Duration
	// AckWait is how long a member may hold a message without a sign of
	// life before the group gets it back (default 30s).
	AckWait time.Duration
	// InactiveThreshold removes a group's consumers after this long without
	// any member (default 7 days, Kafka's default offset retention).
	InactiveThreshold time.Duration
	// PublishTimeout bounds Publish when the context has no earlier
	// deadline (default 10s).
	PublishTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between handler retries
	// (defaults 200ms and 30s).
	RetryMin, RetryMax time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Partitions <= 0 {
		c.Partitions = 8
	}
	if c.Name == "" {
		c.Name = "herald"
	}
	def(&c.MaxAge, 7*24*time.Hour)
	def(&c.DuplicateWindow, 2*time.Minute)
	def(&c.AckWait, 30*time.Second)
	def(&c.InactiveThreshold, 7*24*time.Hour)
	def(&c.PublishTimeout, 10*time.Second)
	def(&c.RetryMin, 200*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	return c
}

type broker struct {
	cfg    Config
	log    *slog.Logger
	nc     *natsgo.Conn
	js     jetstream.JetStream
	closed consume.Closed

	mu    sync.Mutex
	parts map[string]int // topic → partition count, read from the stream
}

// New connects to the server. It does not wait for the server: while it is
// unreachable the connection keeps retrying, publishing fails fast and
// consuming pauses, so a service can start before its broker.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (stream.Broker, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.URL == "" {
		return nil, errors.New("nats: URL is required")
	}
	cfg = cfg.withDefaults()
	log := logger.With("component", "stream.nats")
	nc, err := natsgo.Connect(cfg.URL,
		natsgo.Name(cfg.Name),
		natsgo.RetryOnFailedConnect(true),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(500*time.Millisecond),
		// No reconnect buffer: a publish while disconnected fails at once
		// instead of being sent later behind the caller's back.
		natsgo.ReconnectBufSize(-1),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil { // nil: we closed it
				log.Warn("nats disconnected", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) {
			log.Info("nats reconnected", "server", c.ConnectedUrlRedacted())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			log.Warn("nats async error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	return &broker{cfg: cfg, log: log, nc: nc, js: js, parts: map[string]int{}}, nil
}

// StreamName is the JetStream stream holding topic. Characters a stream name
// may not hold become '_', and a hash of the topic keeps such names apart.
func StreamName(topic string) string {
	var b strings.Builder
	changed := false
	for _, r := range topic {
		switch {
		case r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' || r <= ' ' || r == 0x7f:
			b.WriteByte('_')
			changed = true
		default:
			b.WriteRune(r)
		}
	}
	if changed {
		fmt.Fprintf(&b, "_%08x", hash32(topic))
	}
	return b.String()
}

func validTopic(topic string) error {
	if topic == "" {
		return errors.New("nats: empty topic")
	}
	for _, tok := range strings.Split(topic, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("nats: topic %q is not a valid subject prefix", topic)
		}
	}
	return nil
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// Partition returns the partition of key among n.
func Partition(key string, n int) int {
	return int(hash32(key) % uint32(n))
}

func subject(topic string, partition int) string {
	return topic + "." + strconv.Itoa(partition)
}

func (b *broker) EnsureTopic(ctx context.Context, topic string) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	if err := validTopic(topic); err != nil {
		return err
	}
	cfg := jetstream.StreamConfig{
		Name:        StreamName(topic),
		Description: "Herald topic " + topic,
		Subjects:    []string{topic + ".*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.MaxAge,
		Replicas:    b.replicas(),
		Duplicates:  b.cfg.DuplicateWindow,
		Metadata: map[string]string{
			metaTopic:      topic,
			metaPartitions: strconv.Itoa(b.cfg.Partitions),
		},
	}
	s, err := b.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// Exists (possibly with other settings): keep it as it is; its
		// partition count must not change under running members.
		s, err = b.js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return fmt.Errorf("nats: ensure topic %s: %w", topic, err)
	}
	_, err = b.partitionsOf(topic, s.CachedInfo())
	return err
}

// replicas is the configured count, else 3 when the connected server is in
// a cluster and 1 when it stands alone.
func (b *broker) replicas() int {
	if b.cfg.Replicas > 0 {
		return b.cfg.Replicas
	}
	if b.nc.ConnectedClusterName() != "" {
		return 3
	}
	return 1
}

// partitionsOf reads and caches the partition count from a stream's info.
func (b *broker) partitionsOf(topic string, info *jetstream.StreamInfo) (int, error) {
	n, err := strconv.Atoi(info.Config.Metadata[metaPartitions])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("nats: stream %s has no valid %s metadata: not created by Herald", info.Config.Name, metaPartitions)
	}
	b.mu.Lock()
	b.parts[topic] = n
	b.mu.Unlock()
	return n, nil
}

// partitions returns the partition count of an existing topic.
func (b *broker) partitions(ctx context.Context, topic string) (int, error) {
	b.mu.Lock()
	n, ok := b.parts[topic]
	b.mu.Unlock()
	if ok {
		return n, nil
	}
	if err := validTopic(topic); err != nil {
		return 0, err
	}
	s, err := b.js.Stream(ctx, StreamName(topic))
	if err != nil {
		return 0, fmt.Errorf("nats: topic %s: %w", topic, err)
	}
	return b.partitionsOf(topic, s.CachedInfo())
}

func (b *broker) Ping(ctx context.Context) error {
	if b.closed.Load() {
		return stream.ErrClosed
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats: not connected (%s)", b.nc.Status())
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("nats: jetstream account info: %w", err)
	}
	return nil
}

func (b *broker) Close() error { return b.closed.Close(b.nc.Close) }

func (b *broker) Publisher() (stream.Publisher, error) {
	if b.closed.Load() {
		return nil, stream.ErrClosed
	}
	return &publisher{b: b}, nil
}

type publisher struct {
	b      *broker
	closed atomic.Bool
	rr     atomic.Uint32 // partition for keyless messages
}

// Publish sends the messages one after another, each waiting for its
// publish ack, and stops at the first failure: a later message never lands
// before an earlier one of the same call, so a caller that retries the call
// keeps per-key order (duplicates are dropped by Nats-Msg-Id).
func (p *publisher) Publish(ctx context.Context, msgs ...stream.Message) error {
	if p.closed.Load() || p.b.closed.Load() {
		return stream.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, p.b.cfg.PublishTimeout)
	defer cancel()
	for i, m := range msgs {
		n, err := p.b.partitions(ctx, m.Topic)
		if err != nil {
			return fmt.Errorf("nats: publish %d of %d: %w", i+1, len(msgs), err)
		}
		part := Partition(m.Key, n)
		if m.Key == "" {
			part = int(p.rr.Add(1) % uint32(n)) // no order to keep: spread
		}
		nm := natsgo.NewMsg(subject(m.Topic, part))
		for _, h := range m.Headers {
			if h.Key != stream.DedupHeader {
				nm.Header.Add(h.Key, h.Value)
			}
		}
		if m.Key != "" {
			nm.Header.Set(KeyHeader, m.Key)
		}
		nm.Data = m.Value
		opts := []jetstream.PublishOpt{jetstream.WithExpectStream(StreamName(m.Topic))}
		id := m.Header(stream.DedupHeader)
		if id == "" {
			id = m.Header("ce_id")
		}
		if id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		if _, err := p.b.js.PublishMsg(ctx, nm, opts...); err != nil {
			return fmt.Errorf("nats: publish %d of %d to %s: %w", i+1, len(msgs), m.Topic, err)
		}
	}
	return nil
}

func (p *publisher) Close() error {
	p.closed.Store(true)
	return nil
}

// toMessage converts a delivered message, dropping reserved headers.
func toMessage(topic string, partition int, m jetstream.Msg) stream.Message {
	out := stream.Message{Topic: topic, Value: m.Data(), Partition: int32(partition)}
	if md, err := m.Metadata(); err == nil {
		out.Position = int64(md.Sequence.Stream)
	}
	hdr := m.Headers()
	out.Key = hdr.Get(KeyHeader)
	for _, k := range slices.Sorted(maps.Keys(hdr)) {
		vs := hdr[k]
		if k == KeyHeader || strings.HasPrefix(k, "Nats-") {
			continue
		}
		for _, v := range vs {
			out.Headers = append(out.Headers, stream.Header{Key: k, Value: v})
		}
	}
	return out
}
