package notifier

import (
	"strings"
	"time"

	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/subgraphauth"
	"github.com/heraldhq/herald/notifier/channel"
)

// Config is the notifier's configuration.
type Config struct {
	HTTPAddr string
	// DB is the database (HERALD_DB_*; its Mode off makes production run
	// `notifier migrate` as a release step). Migrations left zero are the
	// notifier's own.
	DB           db.Settings
	UsersURL     string
	UsersTimeout time.Duration
	// SubgraphSecret is sent to the users subgraph when it requires one
	// (internal/subgraphauth).
	SubgraphSecret string
	// SecretKey (HERALD_NOTIFIER_SECRET_KEY) seals the webhook signing
	// secrets kept on delivery rows; empty stores them unencrypted
	// (development only).
	SecretKey string
	Topic     string // OrderCreated topic; its dead-letter topic is Topic + ".dlq"
	// TopicCancelled is the OrderCancelled topic, read by its own group
	// (CancelledGroup); its dead-letter topic is TopicCancelled + ".dlq".
	TopicCancelled string
	StatusTopic    string // NotificationStatus topic (status events, via the outbox)
	Group          string // consumer group of Topic
	// Channels are the channels' configurations (declared by the channel
	// packages); Run builds its senders from them unless Deps.Senders is set.
	Channels Channels
	// StatusRetention is how long status history rows and published status
	// outbox rows are kept.
	StatusRetention time.Duration
	Workers         int
	Poll            time.Duration
	Lease           time.Duration
	Backoff         Backoff
	MaxAttempts     int
	MaxAge          time.Duration
	Breaker         BreakerSettings
}

// LoadConfig declares and reads the notifier's environment variables.
// Problems are collected in v (see v.Err).
func LoadConfig(v *config.Vars) Config {
	c := Config{
		HTTPAddr:        v.String("HERALD_HTTP_ADDR", ":4003", "address for /healthz, /readyz and /metrics"),
		DB:              db.LoadSettings(v, migrations.Set),
		UsersURL:        v.String("HERALD_USERS_URL", "http://127.0.0.1:4001/graphql", "users subgraph GraphQL endpoint"),
		UsersTimeout:    v.Duration("HERALD_USERS_TIMEOUT", 10*time.Second, "timeout of one users-service request"),
		SubgraphSecret:  v.String(subgraphauth.EnvVar, "", "shared secret sent to the users subgraph (set when the subgraphs require it)"),
		SecretKey:       v.String(SecretKeyVar, "", "base64 of 32 random bytes encrypting webhook signing secrets on delivery rows (empty: stored unencrypted, development only)"),
		Topic:           v.String("HERALD_TOPIC_ORDER_CREATED", events.TopicOrderCreated, "topic carrying OrderCreated events (dead letters go to <topic>"+events.DeadLetterSuffix+")"),
		TopicCancelled:  v.String("HERALD_TOPIC_ORDER_CANCELLED", events.TopicOrderCancelled, "topic carrying OrderCancelled events (dead letters go to <topic>"+events.DeadLetterSuffix+"); read by the group <HERALD_NOTIFIER_GROUP>"+CancelledGroupSuffix),
		StatusTopic:     v.String("HERALD_TOPIC_NOTIFICATION_STATUS", events.TopicNotificationStatus, "topic the notifier publishes delivery status events to"),
		Group:           v.String("HERALD_NOTIFIER_GROUP", "herald-notifier", "consumer group of the notifier"),
		StatusRetention: v.Duration("HERALD_STATUS_RETENTION", DefaultStatusRetention, "status history rows and published status outbox rows older than this are deleted"),
		Workers:         v.Int("HERALD_DELIVERY_WORKERS", 2, "delivery workers (PostgreSQL; SQLite always uses one)"),
		Poll:            v.Duration("HERALD_DELIVERY_POLL", 2*time.Second, "how often workers look for due deliveries besides wake-ups"),
		Lease:           v.Duration("HERALD_DELIVERY_LEASE", 2*time.Minute, "how long a claimed delivery stays reserved for its worker"),
		Backoff: Backoff{
			Base:   v.Duration("HERALD_DELIVERY_BACKOFF_BASE", 2*time.Second, "retry delay after the first failed attempt (doubles each time)"),
			Max:    v.Duration("HERALD_DELIVERY_BACKOFF_MAX", 5*time.Minute, "longest retry delay (before jitter)"),
			Jitter: 0.5,
		},
		MaxAttempts: v.Int("HERALD_DELIVERY_MAX_ATTEMPTS", 12, "attempts per delivery before it is FAILED"),
		MaxAge:      v.Duration("HERALD_DELIVERY_MAX_AGE", 24*time.Hour, "no retry is scheduled later than this after a delivery was created; it is FAILED instead"),
		Breaker: BreakerSettings{
			Failures: uint32(max(0, v.Int("HERALD_USERS_BREAKER_FAILURES", 5, "consecutive users-service failures that open the circuit breaker"))),
			OpenFor:  v.Duration("HERALD_USERS_BREAKER_OPEN", 10*time.Second, "how long the users-service breaker stays open before one probe"),
		},
	}
	c.Channels = LoadChannels(v)
	if _, err := NewSecretBox(c.SecretKey); err != nil {
		v.Check(false, "%s: %v", SecretKeyVar, err)
	}
	v.Check(c.Topic != "", "HERALD_TOPIC_ORDER_CREATED: must not be empty")
	v.Check(c.TopicCancelled != "", "HERALD_TOPIC_ORDER_CANCELLED: must not be empty")
	v.Check(c.TopicCancelled != c.Topic, "HERALD_TOPIC_ORDER_CANCELLED: must differ from HERALD_TOPIC_ORDER_CREATED")
	v.Check(c.StatusTopic != "", "HERALD_TOPIC_NOTIFICATION_STATUS: must not be empty")
	v.Check(c.MaxAttempts >= 1, "HERALD_DELIVERY_MAX_ATTEMPTS: must be at least 1")
	v.Check(c.MaxAge > 0, "HERALD_DELIVERY_MAX_AGE: must be positive")
	v.Check(c.Breaker.Failures >= 1, "HERALD_USERS_BREAKER_FAILURES: must be at least 1")
	v.Check(c.Breaker.OpenFor > 0, "HERALD_USERS_BREAKER_OPEN: must be positive")
	v.Check(c.Group != "", "HERALD_NOTIFIER_GROUP: must not be empty")
	v.Check(c.UsersURL != "", "HERALD_USERS_URL: must not be empty")
	v.Check(c.Workers >= 1, "HERALD_DELIVERY_WORKERS: must be at least 1")
	v.Check(c.Poll > 0, "HERALD_DELIVERY_POLL: must be positive")
	v.Check(c.Backoff.Base > 0 && c.Backoff.Max >= c.Backoff.Base, "HERALD_DELIVERY_BACKOFF_BASE/MAX: need 0 < base <= max")
	v.Check(c.StatusRetention > 0, "HERALD_STATUS_RETENTION: must be positive")
	var timeouts []string // the channels' timeout variables, for the message
	for _, k := range channel.Kinds() {
		timeouts = append(timeouts, k.TimeoutVar)
	}
	v.Check(c.Lease > c.Channels.MaxTimeout(),
		"HERALD_DELIVERY_LEASE: %s must exceed the longest channel timeout, %s (%s): a send must end before its claim does",
		c.Lease, c.Channels.MaxTimeout(), strings.Join(timeouts, ", "))
	return c
}

// CancelledGroupSuffix is appended to the consumer group to name the group
// that reads OrderCancelled. Each topic has its own group because a Kafka
// static member (HERALD_STREAM_INSTANCE_ID) can hold its instance id only
// once per group: two subscribers of one process in one group would fence
// each other.
const CancelledGroupSuffix = "-cancelled"

// consumed is one topic the notifier consumes and the group that reads it.
type consumed struct {
	Topic string
	Group string
}

// consumed lists the topics the notifier consumes with their groups:
// OrderCreated with Group, OrderCancelled with Group + CancelledGroupSuffix.
// A topic left empty (a Config built by hand) is not consumed.
func (c Config) consumed() []consumed {
	var out []consumed
	if c.Topic != "" {
		out = append(out, consumed{Topic: c.Topic, Group: c.Group})
	}
	if c.TopicCancelled != "" {
		out = append(out, consumed{Topic: c.TopicCancelled, Group: c.Group + CancelledGroupSuffix})
	}
	return out
}
