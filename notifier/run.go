package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"

	"entgo.io/ent/dialect"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/errgroup"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/outbox"
	"github.com/heraldhq/herald/internal/startup"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/subgraphauth"
	"github.com/heraldhq/herald/notifier/channel"
)

// Deps are what main constructs and hands to Run.
type Deps struct {
	Logger *slog.Logger
	Broker stream.Broker
	// HTTPReady, when set, receives the bound HTTP address (for ":0") once
	// the database is reached and the topics exist, as the consumer starts;
	// /healthz and /readyz answer before that.
	HTTPReady func(net.Addr)
	// Users replaces the genqlient users client (the all-in-one binary may
	// pass one wired in-process); nil means HTTP to cfg.UsersURL. Either way
	// it is wrapped in the circuit breaker.
	Users UserDirectory
	// Senders are the channel senders by channel name (channel.Kind.Name).
	// nil means cfg.Channels.Senders; a
	// non-nil map is the complete set. A channel without a sender is
	// SKIPPED by the policy gate ("channel not configured").
	Senders map[string]channel.Sender
	// Render renders what channels store at consume time; nil means
	// RenderLocalized.
	Render Renderer
	// Metrics, when set, is used instead of a fresh registry (tests).
	Metrics *Metrics
}

// StatusSource is the CloudEvents source of NotificationStatus events.
const StatusSource = "/herald/notifier"

// Run serves until ctx ends: it consumes OrderCreated and OrderCancelled
// (each topic with its own group, one handler for both), runs the delivery
// workers and the status outbox relay, and serves /healthz, /readyz and
// /metrics, then drains and returns.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	logger := logging.OrDiscard(deps.Logger)
	if deps.Broker == nil {
		return errors.New("notifier: Deps.Broker is required")
	}
	senders := deps.Senders
	if senders == nil {
		var err error
		if senders, err = cfg.Channels.Senders(logger); err != nil {
			return fmt.Errorf("notifier channels: %w", err)
		}
		// Runs after the workers stopped: ends kept connections (the SMTP
		// relay's get a QUIT). Senders passed in belong to the caller.
		defer closeSenders(senders, logger)
	}
	available := map[string]bool{}
	for name, s := range senders {
		available[name] = s != nil
	}
	metrics := deps.Metrics
	if metrics == nil {
		metrics = NewMetrics()
	}
	secrets, err := NewSecretBox(cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("notifier: %s: %w", SecretKeyVar, err)
	}
	if !secrets.Encrypted() {
		logger.Warn(SecretKeyVar + " is not set: webhook signing secrets are stored unencrypted on delivery rows")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// /healthz (alive) and /readyz (what it waits for) answer from the
	// first moment: a database or broker that is down is waited for, with
	// backoff, never a reason to exit.
	st := &startup.Status{}
	st.Set("database", "connecting to the database")
	st.Set("broker", "making sure of the topics")
	sw := httpserver.NewSwitch(httpserver.Starting(map[string]http.Handler{
		"/healthz": httpserver.Health(nil),
		"/readyz":  httpserver.Health(map[string]func(context.Context) error{"database": st.Check("database", nil)}),
	}))
	// HTTPReady hears of the address once the topics exist, as before the
	// start-up waited for dependencies: callers may publish at once.
	bound := &httpserver.Bound{}
	serveDone := make(chan error, 1)
	go func() {
		err := httpserver.Serve(ctx, logger, cfg.HTTPAddr, sw, bound.Listening)
		cancel() // a server that could not listen ends the rest too
		serveDone <- err
	}()
	database, err := cfg.DB.OrMigrations(migrations.Set).Wait(ctx, st, logger)
	if err != nil {
		cancel()
		serveErr := <-serveDone
		if startup.Stopped(ctx, err) {
			return serveErr // stopped while waiting
		}
		return errors.Join(err, serveErr)
	}
	defer database.Close()
	client := entnotifier.NewClient(entnotifier.Driver(database.Driver))

	retention := cfg.StatusRetention
	if retention <= 0 {
		retention = DefaultStatusRetention
	}
	cleaner := &historyCleaner{DB: client, Retention: retention, Logger: logger.With("component", "status-retention")}

	pub, err := deps.Broker.Publisher()
	if err != nil {
		cancel()
		return errors.Join(fmt.Errorf("publisher: %w", err), <-serveDone)
	}
	defer pub.Close()
	inputs := cfg.consumed()
	topics := []string{cfg.StatusTopic} // every topic the notifier reads or writes
	subs := make([]stream.Subscriber, len(inputs))
	for i, in := range inputs {
		sub, err := deps.Broker.Subscriber(stream.SubscribeOptions{Topic: in.Topic, Group: in.Group})
		if err != nil {
			cancel()
			return errors.Join(fmt.Errorf("subscribe %s: %w", in.Topic, err), <-serveDone)
		}
		defer sub.Close()
		subs[i] = sub
		topics = append(topics, in.Topic, in.Topic+events.DeadLetterSuffix)
	}
	relay, err := outbox.New(outbox.Config{
		DB: database.SQL, Dialect: database.Dialect, Table: "outbox_events", Publisher: pub,
		Logger:    logger.With("component", "status-outbox"),
		Retention: retention, // published status events are kept as long as their history
	})
	if err != nil {
		cancel()
		return errors.Join(fmt.Errorf("status outbox: %w", err), <-serveDone)
	}

	users := deps.Users
	if users == nil {
		users = NewUsersClient(cfg.UsersURL, &http.Client{Timeout: cfg.UsersTimeout, Transport: subgraphauth.Transport(cfg.SubgraphSecret, nil)})
	}
	bs := cfg.Breaker
	bs.OnState = func(from, to gobreaker.State) {
		logger.Warn("users-service circuit breaker", "from", from.String(), "to", to.String())
		metrics.breakerState(int(to))
	}
	guarded := NewBreakerDirectory(users, bs)

	status := statusEvents{Topic: cfg.StatusTopic, Source: StatusSource}
	workers := cfg.Workers
	if database.Dialect != dialect.Postgres {
		// SQLite cannot lock rows: one worker per database is what keeps a
		// delivery from being sent twice.
		workers = 1
	}
	ws := make([]*Worker, workers)
	for i := range ws {
		ws[i] = (&Worker{
			DB: client, Dialect: database.Dialect, Senders: senders, Status: status, Metrics: metrics,
			Logger:  logger.With("component", "delivery-worker", "worker", i),
			Backoff: cfg.Backoff, MaxAttempts: cfg.MaxAttempts, MaxAge: cfg.MaxAge,
			Lease: cfg.Lease, Poll: cfg.Poll, Published: relay.Notify, Users: guarded, Secrets: secrets,
		}).Init()
	}
	consumer := &Consumer{
		DB: client, Users: guarded, DLQ: pub, Status: status, Available: available,
		Render: deps.Render, Metrics: metrics, Published: relay.Notify, Secrets: secrets,
		Logger: logger.With("component", "consumer"),
		Wake: func() {
			for _, w := range ws {
				w.Wake()
			}
		},
	}
	metrics.Registry.MustRegister(newStateCollector(deps.Broker, inputs, client, logger.With("component", "metrics")))

	mux := http.NewServeMux()
	// Liveness: the process serves HTTP. Dependencies are /readyz's job, so
	// a broker outage never gets the notifier restarted.
	mux.Handle("GET /healthz", httpserver.Health(nil))
	mux.Handle("GET /readyz", httpserver.Health(map[string]func(context.Context) error{
		"database": database.Ping,
		"broker":   st.Check("broker", deps.Broker.Ping),
		"consumer": st.Check("consumer", consumingCheck(subs)),
		"users":    guarded.Ping,
	}))
	mux.Handle("GET /metrics", metrics.Handler())
	sw.Set(mux)

	logger.Info("notifier starting", "consumed", inputs, "status_topic", cfg.StatusTopic, "db", cfg.DB.Driver,
		"workers", workers, "channels", keys(available), "channel_config", cfg.Channels)
	g, gctx := errgroup.WithContext(ctx)
	// Workers send what the database holds: they need no broker.
	for _, w := range ws {
		g.Go(func() error { return w.Run(gctx) })
	}
	g.Go(func() error { return cleaner.Run(gctx) })
	g.Go(func() error {
		st.Set("consumer", "waiting for the broker")
		if err := startup.EnsureTopics(gctx, logger, st, "broker", "broker unreachable", deps.Broker, topics...); err != nil {
			return nil // stopped before the broker came
		}
		st.Set("consumer", "")
		bound.Ready(deps.HTTPReady) // its topics exist: events published now reach it
		g.Go(func() error { return relay.Run(gctx) })
		for i, sub := range subs {
			g.Go(func() error {
				err := sub.ConsumeBatches(gctx, consumer.HandleBatch)
				if err != nil && gctx.Err() == nil {
					return fmt.Errorf("consume %s: %w", inputs[i].Topic, err)
				}
				return nil
			})
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		cancel() // ends the HTTP server too
		return nil
	})
	err = errors.Join(g.Wait(), <-serveDone)
	logger.Info("notifier stopped")
	return err
}

// consumingCheck is the consumer's readiness: where the backend can tell
// (stream.Consuming), whether every subscriber holds the partitions it
// should, with the reason of the first that does not.
func consumingCheck(subs []stream.Subscriber) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, sub := range subs {
			c, ok := sub.(stream.Consuming)
			if !ok {
				continue
			}
			if err := c.Consuming(ctx); err != nil {
				return &httpserver.NotReady{Reason: err.Error()}
			}
		}
		return nil
	}
}

// closeSenders closes the senders that hold resources (io.Closer).
func closeSenders(senders map[string]channel.Sender, logger *slog.Logger) {
	for name, s := range senders {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				logger.Warn("closing channel sender", "channel", name, "error", err)
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k, ok := range m {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
