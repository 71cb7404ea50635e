// Package orders is the orders subgraph: orders and their items, served as
// an Apollo Federation v2 subgraph, with a transactional outbox whose relay
// publishes an OrderCreated event for every committed order and an
// OrderCancelled event for every cancellation. Semantics: docs/orders.md.
package orders

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	genqlient "github.com/Khan/genqlient/graphql"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/migrations"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/outbox"
	"github.com/heraldhq/herald/internal/startup"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/subgraphauth"
	"github.com/heraldhq/herald/subgraphs/orders/generated"
)

//go:generate go tool gqlgen generate --config gqlgen.yml

// Config is the orders service's configuration.
type Config struct {
	HTTPAddr string
	// DB is the database (HERALD_DB_*; its Mode off makes production run
	// `orders migrate` first). Migrations left zero are the service's own.
	DB                  db.Settings
	UsersURL            string
	UsersTimeout        time.Duration
	TopicOrderCreated   string
	TopicOrderCancelled string
	OutboxPoll          time.Duration
	OutboxRetention     time.Duration
	// SubgraphSecret, when set, is required from callers (internal/subgraphauth)
	// and sent to the users subgraph.
	SubgraphSecret string
	// Edge: request limits, and whether a non-loopback address may go
	// without SubgraphSecret (internal/gqlserver).
	Edge gqlserver.Edge
}

// defaults is the configuration of an empty environment, for the settings a
// hand-built Config leaves at zero.
var defaults = config.Defaults(LoadConfig)

// LoadConfig declares and reads the service's environment variables.
// Problems are recorded in v; check v.Err() once every part has loaded.
func LoadConfig(v *config.Vars) Config {
	cfg := Config{
		HTTPAddr: v.String("HERALD_HTTP_ADDR", ":4002", "address the orders subgraph listens on"),
		DB:       db.LoadSettings(v, migrations.Set),
		UsersURL: v.String("HERALD_USERS_URL", "http://127.0.0.1:4001/graphql",
			"GraphQL endpoint of the users subgraph (orders checks the buyer exists)"),
		UsersTimeout: v.Duration("HERALD_USERS_TIMEOUT", 5*time.Second,
			"how long createOrder waits for the users subgraph"),
		TopicOrderCreated: v.String("HERALD_TOPIC_ORDER_CREATED", events.TopicOrderCreated,
			"topic OrderCreated events are published to"),
		TopicOrderCancelled: v.String("HERALD_TOPIC_ORDER_CANCELLED", events.TopicOrderCancelled,
			"topic OrderCancelled events are published to"),
		OutboxPoll: v.Duration("HERALD_OUTBOX_POLL_INTERVAL", 500*time.Millisecond,
			"fallback poll of the outbox relay (commits in this process wake it at once)"),
		OutboxRetention: v.Duration("HERALD_OUTBOX_RETENTION", 10*time.Minute,
			"published outbox rows are deleted after this long"),
		SubgraphSecret: v.String(subgraphauth.EnvVar, "",
			"shared secret required from callers of this subgraph and sent to the users subgraph; empty turns the check off"),
		Edge: gqlserver.LoadEdge(v),
	}
	u, err := url.Parse(cfg.UsersURL)
	v.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
		"HERALD_USERS_URL: %q is not an http(s) URL", cfg.UsersURL)
	v.Check(cfg.TopicOrderCreated != "", "HERALD_TOPIC_ORDER_CREATED: must not be empty")
	v.Check(cfg.TopicOrderCancelled != "", "HERALD_TOPIC_ORDER_CANCELLED: must not be empty")
	v.Check(cfg.UsersTimeout > 0, "HERALD_USERS_TIMEOUT: must be positive")
	v.Check(cfg.OutboxPoll > 0, "HERALD_OUTBOX_POLL_INTERVAL: must be positive")
	v.Check(cfg.OutboxRetention > 0, "HERALD_OUTBOX_RETENTION: must be positive")
	return cfg
}

// Deps holds what the caller constructs and passes in.
type Deps struct {
	Logger *slog.Logger
	// Broker carries OrderCreated events (required).
	Broker stream.Broker
	// HTTPClient calls the users subgraph; nil means a default client.
	HTTPClient *http.Client
	// Ready, when set, receives the bound HTTP address once requests are
	// accepted (the address matters when HTTPAddr ends in ":0").
	Ready func(net.Addr)
}

// Run serves health at once and GraphQL once the database is reached: it
// opens the database (waiting with backoff while it is down), brings its
// schema up to date (or, with HERALD_DB_MIGRATE=off, checks that it is),
// and serves /graphql and /healthz until ctx ends. The broker is not needed
// to take orders: the OrderCreated and OrderCancelled topics are made sure
// of in the background, with backoff, and the outbox relay starts once they
// exist; until then orders wait in the outbox. On shutdown it drains
// requests in flight and stops the relay; rows it had not published yet stay
// pending and go out on the next start.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	logger := logging.OrDiscard(deps.Logger)
	if deps.Broker == nil {
		return errors.New("orders: Deps.Broker is required")
	}
	if err := gqlserver.CheckListen(cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge); err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &startup.Status{}
	st.Set("database", "connecting to the database")
	st.Set("broker", "making sure of the topics")
	srv := gqlserver.Serve(ctx, cancel, logger, cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge, st)
	serveErr := func() error {
		if err := <-srv.Done(); err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		return nil
	}

	d, err := cfg.DB.OrMigrations(migrations.Set).Wait(ctx, st, logger)
	if err != nil {
		cancel()
		if startup.Stopped(ctx, err) {
			return serveErr() // stopped while waiting
		}
		return errors.Join(err, serveErr())
	}
	defer d.Close()
	client := entorders.NewClient(entorders.Driver(d.Driver))
	topicCancelled := cmp.Or(cfg.TopicOrderCancelled, defaults().TopicOrderCancelled)
	pub, err := deps.Broker.Publisher()
	if err != nil {
		cancel()
		return errors.Join(fmt.Errorf("orders: publisher: %w", err), serveErr())
	}
	defer pub.Close()
	relay, err := outbox.New(outbox.Config{
		DB:           d.SQL,
		Dialect:      d.Dialect,
		Publisher:    pub,
		Logger:       logger.With("component", "outbox"),
		PollInterval: cfg.OutboxPoll,
		Retention:    cfg.OutboxRetention,
	})
	if err != nil {
		cancel()
		return errors.Join(fmt.Errorf("orders: %w", err), serveErr())
	}
	// The relay outlives the HTTP server's drain so that orders committed by
	// requests in flight are still published. It starts once the topics
	// exist: a broker that is down only delays it.
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := startup.EnsureTopics(relayCtx, logger, st, "broker", "broker unreachable: orders wait in the outbox",
			deps.Broker, cfg.TopicOrderCreated, topicCancelled); err != nil {
			return // stopped before the broker came
		}
		_ = relay.Run(relayCtx)
	})
	defer func() {
		stopRelay()
		wg.Wait()
	}()

	httpClient := deps.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	// Users answers for the caller: their identity goes along, with the
	// router's secret that lets users believe it.
	toUsers := *httpClient
	toUsers.Transport = subgraphauth.Transport(cfg.SubgraphSecret, identity.Transport("", httpClient.Transport))
	httpClient = &toUsers
	res := &Resolver{
		Client:         client,
		Logger:         logger,
		Users:          genqlient.NewClient(cfg.UsersURL, httpClient),
		UsersTimeout:   cfg.UsersTimeout,
		Topic:          cfg.TopicOrderCreated,
		TopicCancelled: topicCancelled,
		Notify:         relay.Notify,
	}
	srv.Ready(NewHandler(res, map[string]func(context.Context) error{
		"database": d.Ping,
		"broker":   st.Check("broker", deps.Broker.Ping),
	}), deps.Ready)
	logger.Info("orders ready", "topic", cfg.TopicOrderCreated)
	return serveErr()
}

// NewHandler serves the subgraph: GET and POST /graphql, and GET /healthz
// running checks.
func NewHandler(res *Resolver, checks map[string]func(context.Context) error) http.Handler {
	res.Logger = logging.OrDiscard(res.Logger)
	es := generated.NewExecutableSchema(generated.Config{Resolvers: res})
	gql := withTraceParent(gqlserver.New(es, res.Logger))
	mux := http.NewServeMux()
	mux.Handle("GET /graphql", gql)
	mux.Handle("POST /graphql", gql)
	mux.Handle("GET /healthz", httpserver.Health(checks))
	return mux
}
