// Package users is the users subgraph: people, their contact details and
// their notification preferences, served as an Apollo Federation v2 subgraph
// over the service's own database, plus a consumer of OrderCreated that
// keeps each user's order counters.
package users

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/migrations"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/startup"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/subgraphauth"
	"github.com/heraldhq/herald/subgraphs/users/generated"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// DefaultGroup is the consumer group of the OrderCreated counter: its own,
// so it sees every event independently of the notifier's group.
const DefaultGroup = "herald-users"

// Config is the users service's configuration. The zero value of every
// field after DB (and of DB's Mode and Migrations) means its documented
// default, so callers that build a Config by hand (tests, the all-in-one
// binary) keep working.
type Config struct {
	HTTPAddr string
	// DB is the database (HERALD_DB_*; its Mode off makes production run
	// `users migrate` first). Migrations left zero are the service's own.
	DB db.Settings
	// TopicOrderCreated and Group name what the order counter consumes.
	TopicOrderCreated string
	Group             string
	// CriticalCategories ignore opt-outs and quiet hours; nil means
	// ORDER_UPDATES, an empty non-nil slice means none.
	CriticalCategories []string
	// AllowLoopbackWebhooks admits webhooks on localhost, also over http.
	AllowLoopbackWebhooks bool
	// SecretKey (base64 of 32 bytes) encrypts webhook signing secrets at
	// rest; empty stores them in the clear (development).
	SecretKey string
	// SubgraphSecret, when set, is required on every request but /healthz
	// (see internal/subgraphauth).
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
		HTTPAddr: v.String("HERALD_HTTP_ADDR", ":4001", "address the users subgraph listens on"),
		DB:       db.LoadSettings(v, migrations.Set),
		TopicOrderCreated: v.String("HERALD_TOPIC_ORDER_CREATED", events.TopicOrderCreated,
			"topic carrying OrderCreated events, counted into User.orderCount"),
		Group: v.String("HERALD_USERS_GROUP", DefaultGroup, "consumer group of the users service on the OrderCreated topic"),
		CriticalCategories: v.List("HERALD_CRITICAL_CATEGORIES", string(model.NotificationCategoryOrderUpdates),
			"notification categories that ignore opt-outs and quiet hours, comma-separated, or none"),
		AllowLoopbackWebhooks: v.Bool("HERALD_ALLOW_HTTP_WEBHOOKS_LOOPBACK", false,
			"development only: accept webhook URLs on localhost/127.0.0.1/::1, over http too"),
		SecretKey: v.String("HERALD_USERS_SECRET_KEY", "",
			"base64 of 32 random bytes encrypting webhook signing secrets at rest (empty: stored unencrypted, development only)"),
		SubgraphSecret: v.String(subgraphauth.EnvVar, "",
			"shared secret the router (and services calling this subgraph) must send; empty accepts any caller"),
		Edge: gqlserver.LoadEdge(v),
	}
	v.Check(cfg.TopicOrderCreated != "", "HERALD_TOPIC_ORDER_CREATED: must not be empty")
	v.Check(cfg.Group != "", "HERALD_USERS_GROUP: must not be empty")
	if slices.Equal(cfg.CriticalCategories, []string{"none"}) {
		cfg.CriticalCategories = []string{}
	}
	if _, err := criticalSet(cfg.CriticalCategories); err != nil {
		v.Check(false, "HERALD_CRITICAL_CATEGORIES: %v", err)
	}
	if _, err := ParseSecretKey(cfg.SecretKey); err != nil {
		v.Check(false, "HERALD_USERS_SECRET_KEY: %v", err)
	}
	return cfg
}

func criticalSet(names []string) (map[model.NotificationCategory]bool, error) {
	if names == nil {
		names = []string{string(model.NotificationCategoryOrderUpdates)}
	}
	set := map[model.NotificationCategory]bool{}
	for _, n := range names {
		c := model.NotificationCategory(n)
		if !c.IsValid() {
			return nil, fmt.Errorf("%q is not a category (want %v or none)", n, model.AllNotificationCategory)
		}
		set[c] = true
	}
	return set, nil
}

// Deps holds what the caller constructs and passes in.
type Deps struct {
	Logger *slog.Logger
	// Broker, when set, runs the OrderCreated counter beside the API.
	// Without it User.orderCount stays as it is.
	Broker stream.Broker
	// Ready, when set, receives the bound HTTP address once requests are
	// accepted (the address matters when HTTPAddr ends in ":0").
	Ready func(net.Addr)
}

// Run serves health at once and GraphQL once the database is reached: it
// opens the database (waiting with backoff while it is down), brings its
// schema up to date (or checks it is), serves GraphQL on /graphql and health
// on /healthz, and with a broker counts orders from OrderCreated (making
// sure of the topic in the background, with backoff), until ctx ends; then
// it drains requests in flight, stops consuming and closes the database.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	logger := logging.OrDiscard(deps.Logger)
	if err := gqlserver.CheckListen(cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	opts, err := cfg.options()
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if !opts.Secrets.Encrypted() {
		logger.Warn("HERALD_USERS_SECRET_KEY is not set: webhook signing secrets are stored unencrypted")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &startup.Status{}
	st.Set("database", "connecting to the database")
	srv := gqlserver.Serve(ctx, cancel, logger, cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge, st)

	d, err := cfg.DB.OrMigrations(migrations.Set).Wait(ctx, st, logger)
	if err != nil {
		cancel()
		serveErr := <-srv.Done()
		if startup.Stopped(ctx, err) {
			err = nil // stopped while waiting
		}
		if err := errors.Join(err, serveErr); err != nil {
			return fmt.Errorf("users: %w", err)
		}
		return nil
	}
	defer d.Close()
	client := entusers.NewClient(entusers.Driver(d.Driver))
	checks := map[string]func(context.Context) error{"database": d.Ping}

	consumed := make(chan error, 1)
	if deps.Broker != nil {
		topic, group := cmp.Or(cfg.TopicOrderCreated, defaults().TopicOrderCreated), cmp.Or(cfg.Group, defaults().Group)
		sub, err := deps.Broker.Subscriber(stream.SubscribeOptions{Topic: topic, Group: group})
		if err != nil {
			cancel()
			return errors.Join(fmt.Errorf("users: subscribe %s: %w", topic, err), <-srv.Done())
		}
		defer sub.Close()
		st.Set("stream", "making sure of the topic")
		checks["stream"] = st.Check("stream", consumingCheck(sub, deps.Broker.Ping))
		counter := &OrderCounter{Client: client, Logger: logger, LockRows: d.Dialect == db.Postgres}
		go func() {
			// The API does not need the broker: the counter starts when the
			// topic can be made sure of.
			err := startup.EnsureTopics(ctx, logger, st, "stream", "broker unreachable", deps.Broker, topic)
			if err == nil {
				err = sub.ConsumeBatches(ctx, counter.HandleBatch)
			}
			if ctx.Err() != nil {
				err = nil
			}
			if err != nil {
				err = fmt.Errorf("users: consume %s: %w", topic, err)
				cancel() // a dead consumer takes the service down, to be restarted
			}
			consumed <- err
		}()
		logger.Info("counting orders", "topic", topic, "group", group)
	} else {
		close(consumed)
	}

	opts.Dialect = d.Dialect
	srv.Ready(newHandler(client, checks, logger, opts), deps.Ready)
	logger.Info("users ready")
	serveErr := <-srv.Done()
	cancel()
	consumeErr := <-consumed
	if err := errors.Join(consumeErr, serveErr); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// consumingCheck is the readiness of the order counter: the broker answers
// and, where the backend can tell (stream.Consuming), the subscriber holds
// partitions.
func consumingCheck(sub stream.Subscriber, ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return err
		}
		if c, ok := sub.(stream.Consuming); ok {
			if err := c.Consuming(ctx); err != nil {
				return &httpserver.NotReady{Reason: err.Error()}
			}
		}
		return nil
	}
}

// Options are the resolver settings that come from Config.
type Options struct {
	Critical              map[model.NotificationCategory]bool
	Secrets               *SecretBox
	AllowLoopbackWebhooks bool
	// Dialect of the database ("postgres" locks rows it updates; SQLite has
	// a single writer and no row locks).
	Dialect string
}

func (cfg Config) options() (Options, error) {
	crit, err := criticalSet(cfg.CriticalCategories)
	if err != nil {
		return Options{}, fmt.Errorf("critical categories: %w", err)
	}
	box, err := ParseSecretKey(cfg.SecretKey)
	if err != nil {
		return Options{}, fmt.Errorf("secret key: %w", err)
	}
	return Options{Critical: crit, Secrets: box, AllowLoopbackWebhooks: cfg.AllowLoopbackWebhooks}, nil
}

// NewHandler serves the subgraph over client, whose database is d: GET and
// POST /graphql, and GET /healthz pinging d. The zero Options mean
// ORDER_UPDATES critical, secrets unencrypted and no loopback webhooks.
func NewHandler(client *entusers.Client, d *db.DB, logger *slog.Logger, opts Options) http.Handler {
	opts.Dialect = d.Dialect
	return newHandler(client, map[string]func(context.Context) error{"database": d.Ping}, logger, opts)
}

func newHandler(client *entusers.Client, checks map[string]func(context.Context) error, logger *slog.Logger, opts Options) http.Handler {
	logger = logging.OrDiscard(logger)
	if opts.Secrets == nil {
		opts.Secrets = plainSecrets()
	}
	if opts.Critical == nil {
		opts.Critical, _ = criticalSet(nil)
	}
	es := generated.NewExecutableSchema(generated.Config{
		Resolvers: &Resolver{
			Client:                client,
			Logger:                logger,
			Policy:                Policy{Critical: opts.Critical},
			Secrets:               opts.Secrets,
			AllowLoopbackWebhooks: opts.AllowLoopbackWebhooks,
			LockRows:              opts.Dialect == db.Postgres,
		},
	})
	gql := gqlserver.New(es, logger)
	mux := http.NewServeMux()
	mux.Handle("GET /graphql", gql)
	mux.Handle("POST /graphql", gql)
	mux.Handle("GET /healthz", httpserver.Health(checks))
	return mux
}
