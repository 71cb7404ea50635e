// Package backend picks and opens Herald's stream backend from configuration:
// Kafka (franz-go) or NATS JetStream, either an external server or one
// embedded in the process (the all-in-one dev binary).
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	heraldnats "github.com/heraldhq/herald/internal/stream/nats"
)

// Backend kinds.
const (
	Kafka = "kafka"
	NATS  = "nats"
)

// Config selects and configures the backend.
type Config struct {
	Kind         string   // Kafka or NATS
	KafkaBrokers []string // host:port bootstrap list
	NATSURL      string   // server URL; with NATSEmbeddedDir, the address the embedded server listens on
	// NATSEmbeddedDir, when set, runs a nats-server inside the process with
	// its JetStream store here, instead of connecting to an external one.
	NATSEmbeddedDir string
	// NATSSyncInterval is how often the embedded server fsyncs; 0 means on
	// every write (see internal/stream/nats for why that is the default).
	NATSSyncInterval time.Duration
	// Partitions of topics created by EnsureTopic (0: the backend's
	// default, Kafka 3, NATS 8) and their replicas (0: the backend picks:
	// 3 on a cluster, see kafka.Config and heraldnats.Config).
	Partitions int
	Replicas   int
	// KafkaMinInsyncReplicas is min.insync.replicas of Kafka topics Herald
	// creates (0: 2 on topics of three replicas or more).
	KafkaMinInsyncReplicas int
	// InstanceID makes this process a static member of its Kafka consumer
	// groups (see kafka.Config.InstanceID); empty means dynamic membership.
	InstanceID string
	// KafkaSessionTimeout is how long a silent group member keeps its
	// partitions (0: kafka.DefaultSessionTimeout).
	KafkaSessionTimeout time.Duration
}

// LoadConfig declares the stream variables on v.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		Kind:             v.Enum("HERALD_STREAM", NATS, "stream backend", Kafka, NATS),
		KafkaBrokers:     v.List("HERALD_KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated host:port"),
		NATSURL:          v.String("HERALD_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL (with HERALD_NATS_EMBEDDED_DIR: where the embedded server listens)"),
		NATSEmbeddedDir:  v.String("HERALD_NATS_EMBEDDED_DIR", "", "run an embedded NATS JetStream server storing its data in this folder (empty: use an external server)"),
		NATSSyncInterval: v.Duration("HERALD_NATS_SYNC_INTERVAL", 0, "embedded NATS fsync interval; 0 syncs every write"),
		Partitions:       v.Int("HERALD_STREAM_PARTITIONS", 0, "partitions of topics Herald creates (0: Kafka 3, NATS 8)"),
		Replicas: v.Int("HERALD_STREAM_REPLICAS", 0,
			"replicas of topics Herald creates; 0: Kafka 3 on a cluster of three brokers or more (else one per broker), NATS 3 when the server is in a cluster (else 1)"),
		KafkaMinInsyncReplicas: v.Int("HERALD_KAFKA_MIN_INSYNC_REPLICAS", 0,
			"Kafka: min.insync.replicas of topics Herald creates (replicas that must have a record before it is acknowledged); 0: 2 on topics of three replicas or more, else the broker's default"),
		InstanceID: v.String("HERALD_STREAM_INSTANCE_ID", "",
			"Kafka: this process's stable, unique id in its consumer groups (static membership: a restart resumes at once); empty: dynamic membership"),
		KafkaSessionTimeout: v.Duration("HERALD_KAFKA_SESSION_TIMEOUT", kafka.DefaultSessionTimeout,
			"Kafka: how long a consumer that stopped answering keeps its partitions before the group moves them"),
	}
	v.Check(c.KafkaSessionTimeout >= 6*time.Second, "HERALD_KAFKA_SESSION_TIMEOUT: %s is below the broker's default minimum of 6s", c.KafkaSessionTimeout)
	v.Check(c.Partitions >= 0, "HERALD_STREAM_PARTITIONS: %d must not be negative", c.Partitions)
	v.Check(c.Replicas >= 0 && c.Replicas <= 32767, "HERALD_STREAM_REPLICAS: %d must be between 0 (automatic) and 32767", c.Replicas)
	v.Check(c.KafkaMinInsyncReplicas >= 0, "HERALD_KAFKA_MIN_INSYNC_REPLICAS: %d must not be negative", c.KafkaMinInsyncReplicas)
	v.Check(c.Replicas == 0 || c.KafkaMinInsyncReplicas <= c.Replicas,
		"HERALD_KAFKA_MIN_INSYNC_REPLICAS: %d is more than HERALD_STREAM_REPLICAS (%d): no write could succeed", c.KafkaMinInsyncReplicas, c.Replicas)
	switch c.Kind {
	case Kafka:
		v.Check(len(c.KafkaBrokers) > 0, "HERALD_KAFKA_BROKERS: must name at least one broker")
	case NATS:
		if _, err := natsPort(c.NATSURL); err != nil {
			v.Check(false, "HERALD_NATS_URL: %v", err)
		}
	}
	return c
}

// natsPort returns the port of a nats:// URL (4222 when absent).
func natsPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return 0, fmt.Errorf("%q is not a URL such as nats://127.0.0.1:4222", raw)
	}
	if u.Port() == "" {
		return 4222, nil
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("%q has no valid port", raw)
	}
	return p, nil
}

// Open returns the configured broker. With NATSEmbeddedDir it first starts
// the embedded server, which the broker's Close stops. Open once per process
// and share the broker (the all-in-one binary passes it to every service).
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (stream.Broker, error) {
	if logger == nil {
		logger = slog.Default()
	}
	switch cfg.Kind {
	case Kafka:
		return kafka.New(ctx, kafka.Config{
			Brokers:           cfg.KafkaBrokers,
			Partitions:        int32(cfg.Partitions),
			ReplicationFactor: int16(cfg.Replicas),
			MinInsyncReplicas: cfg.KafkaMinInsyncReplicas,
			InstanceID:        cfg.InstanceID,
			SessionTimeout:    cfg.KafkaSessionTimeout,
		}, logger)
	case NATS:
		ncfg := heraldnats.Config{URL: cfg.NATSURL, Partitions: cfg.Partitions, Replicas: cfg.Replicas}
		if cfg.NATSEmbeddedDir == "" {
			return heraldnats.New(ctx, ncfg, logger)
		}
		return openEmbedded(ctx, cfg, ncfg, logger)
	default:
		return nil, fmt.Errorf("stream backend %q: want %s or %s", cfg.Kind, Kafka, NATS)
	}
}

func openEmbedded(ctx context.Context, cfg Config, ncfg heraldnats.Config, logger *slog.Logger) (stream.Broker, error) {
	port, err := natsPort(cfg.NATSURL)
	if err != nil {
		return nil, fmt.Errorf("HERALD_NATS_URL: %w", err)
	}
	// The server lives until the broker is closed, not until Open's ctx ends.
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv, url, err := heraldnats.Embedded(srvCtx, cfg.NATSEmbeddedDir, port,
		heraldnats.WithLogger(logger), heraldnats.WithSyncInterval(cfg.NATSSyncInterval))
	if err != nil {
		cancel()
		return nil, err
	}
	logger.Info("embedded NATS JetStream started", "url", url, "store", cfg.NATSEmbeddedDir)
	ncfg.URL = url
	b, err := heraldnats.New(ctx, ncfg, logger)
	if err != nil {
		cancel()
		srv.WaitForShutdown()
		return nil, err
	}
	return &embedded{Broker: b, srv: srv, cancel: cancel}, nil
}

// embedded is a NATS broker that owns its in-process server.
type embedded struct {
	stream.Broker
	srv    *server.Server
	cancel context.CancelFunc
}

func (e *embedded) Close() error {
	err := e.Broker.Close()
	e.cancel()
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	return err
}

// Positions reports where each partition of topic ends and how far group
// has read it (stream.Positions). It is an optional capability that the
// dead-letter replay discovers with a type assertion, so the wrapper must
// forward it; Tail and Lag belong to stream.Broker and come with the
// embedded field.
func (e *embedded) Positions(ctx context.Context, topic, group string) (map[int32]stream.PartitionState, error) {
	p, ok := e.Broker.(stream.Positions)
	if !ok {
		return nil, fmt.Errorf("broker %T cannot report positions", e.Broker)
	}
	return p.Positions(ctx, topic, group)
}
