// Package subscription serves Herald's live notification status to browsers
// through GraphQL subscriptions on the router.
//
// # Shape
//
// The router composes a small built-in subgraph, "notifications"
// (notifications.graphqls, a copy of schema/notifications.graphqls), into the
// supergraph like any other, so Subscription.notificationStatus and its
// NotificationStatusEvent type are part of the composed graph and
// NotificationStatusEvent.order is an ordinary federated reference to the
// orders subgraph's Order entity. At engine build time the router swaps that
// subgraph's GraphQL data source for this package's data source (Install),
// so graphql-go-tools plans and executes the subscription, including the
// entity fetch for `order { ... }`, while the events come from Herald's
// internal/stream instead of an upstream GraphQL server.
//
// graphql-go-tools no longer carries the event-driven (Kafka/NATS) data
// sources (removed in rc.239), and those never carried field arguments, so
// they could not filter by orderId or userId. A router-owned data source of
// ~100 lines keeps the filter and the stream under Herald's control.
//
// # Stream
//
// One Hub per router instance tails the NotificationStatus topic from its
// end without a consumer group (internal/stream kafka/nats Tail), so every
// router instance sees every event, and fans each event out to the watchers
// whose filter matches. The engine deduplicates subscriptions with the same
// arguments into one trigger, so the Hub has one watcher per distinct filter.
//
// # Slow subscribers
//
// The engine resolves each update (including the orders fetch) inside the
// trigger's Update call, all subscriptions of the trigger in parallel, and
// hands each result to the transport's writer. The data source feeds Update
// from a bounded queue per trigger (Config.Buffer events), so the stream
// reader never waits for a fetch; a trigger that falls that far behind (a
// slow orders subgraph) ends its subscriptions with SUBSCRIBER_TOO_SLOW.
// Each writer has a bounded queue (Config.Buffer messages) drained by its
// connection; writing to it never blocks. When the queue is full the
// subscription is closed with the error code SUBSCRIBER_TOO_SLOW (the client
// should resubscribe and refetch the state it shows), what was queued is
// dropped and counted (Stats.Dropped), and no other subscriber waits for it.
//
// # Protocols
//
// graphql-transport-ws (the graphql-ws library's protocol) on a WebSocket
// upgrade of GET /graphql, and GraphQL over SSE in "distinct connections"
// mode (POST or GET /graphql with Accept: text/event-stream; events "next"
// and "complete").
package subscription

import (
	_ "embed"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/router/internal/defaults"
)

// SubgraphName is the name of the built-in subgraph in HERALD_SUBGRAPHS.
const SubgraphName = "notifications"

// BuiltinURL in place of a routing URL marks a subgraph the router serves
// itself: HERALD_SUBGRAPHS=...,notifications=builtin.
const BuiltinURL = "builtin"

// SDL is the built-in notifications subgraph's schema. The router composes
// it when HERALD_SUBGRAPHS names notifications=builtin; schema/notifications.graphqls
// is the same text for `router compose` (a test keeps them equal).
//
//go:embed notifications.graphqls
var SDL string

// Config tunes the subscription transports and the stream reader. Zero
// values take the defaults.
type Config struct {
	// Topic carrying NotificationStatus events.
	Topic string
	// Buffer is how many undelivered messages one subscription may hold
	// before it is closed with SUBSCRIBER_TOO_SLOW.
	Buffer int
	// InitTimeout bounds the wait for graphql-transport-ws connection_init.
	InitTimeout time.Duration
	// KeepAlive is the interval of SSE keep-alive comments and WebSocket
	// pings sent by the server.
	KeepAlive time.Duration
	// WriteTimeout bounds one write to a client connection.
	WriteTimeout time.Duration
}

// Default values.
const (
	DefaultBuffer       = 256
	DefaultInitTimeout  = 10 * time.Second
	DefaultKeepAlive    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = events.TopicNotificationStatus
	}
	c.Buffer = defaults.Positive(c.Buffer, DefaultBuffer)
	c.InitTimeout = defaults.Positive(c.InitTimeout, DefaultInitTimeout)
	c.KeepAlive = defaults.Positive(c.KeepAlive, DefaultKeepAlive)
	c.WriteTimeout = defaults.Positive(c.WriteTimeout, DefaultWriteTimeout)
	return c
}

// LoadConfig declares and validates the subscription environment variables.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		Topic:        v.String("HERALD_TOPIC_NOTIFICATION_STATUS", events.TopicNotificationStatus, "topic of NotificationStatus events (router: source of Subscription.notificationStatus)"),
		Buffer:       v.Int("HERALD_ROUTER_SUBSCRIPTION_BUFFER", DefaultBuffer, "undelivered messages one subscription may hold before it is closed with SUBSCRIBER_TOO_SLOW"),
		InitTimeout:  v.Duration("HERALD_ROUTER_WS_INIT_TIMEOUT", DefaultInitTimeout, "how long a graphql-transport-ws client may take to send connection_init"),
		KeepAlive:    v.Duration("HERALD_ROUTER_SUBSCRIPTION_KEEPALIVE", DefaultKeepAlive, "interval of SSE keep-alive comments and WebSocket pings"),
		WriteTimeout: v.Duration("HERALD_ROUTER_SUBSCRIPTION_WRITE_TIMEOUT", DefaultWriteTimeout, "bound of one write to a subscription client"),
	}
	v.Check(c.Topic != "", "HERALD_TOPIC_NOTIFICATION_STATUS: must not be empty")
	v.Check(c.Buffer > 0, "HERALD_ROUTER_SUBSCRIPTION_BUFFER: must be positive")
	v.Check(c.InitTimeout > 0, "HERALD_ROUTER_WS_INIT_TIMEOUT: must be positive")
	v.Check(c.KeepAlive > 0, "HERALD_ROUTER_SUBSCRIPTION_KEEPALIVE: must be positive")
	v.Check(c.WriteTimeout > 0, "HERALD_ROUTER_SUBSCRIPTION_WRITE_TIMEOUT: must be positive")
	return c
}
