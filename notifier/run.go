package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"entgo.io/ent/dialect"
	"golang.org/x/sync/errgroup"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/stream"
)

// Deps are what main constructs and hands to Run.
type Deps struct {
	Logger *slog.Logger
	Broker stream.Broker
	// HTTPReady, when set, receives the bound /healthz address (for ":0").
	HTTPReady func(net.Addr)
	// Users replaces the genqlient users client (the all-in-one binary may
	// pass one wired in-process); nil means HTTP to cfg.UsersURL.
	Users UserDirectory
}

// Run serves until ctx ends: it consumes OrderCreated, runs the delivery
// workers and serves /healthz, then drains and returns.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if deps.Broker == nil {
		return errors.New("notifier: Deps.Broker is required")
	}
	sender, err := NewSMTPSender(cfg.SMTP, logger)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}

	database, err := db.Open(ctx, cfg.DBDriver, cfg.DBDSN)
	if err != nil {
		return fmt.Errorf("notifier database: %w", err)
	}
	defer database.Close()
	client := entnotifier.NewClient(entnotifier.Driver(database.Driver))
	if err := client.Schema.Create(ctx); err != nil {
		return fmt.Errorf("notifier migrate: %w", err)
	}

	dlqTopic := cfg.Topic + events.DeadLetterSuffix
	for _, t := range []string{cfg.Topic, dlqTopic} {
		if err := deps.Broker.EnsureTopic(ctx, t); err != nil {
			return fmt.Errorf("ensure topic %s: %w", t, err)
		}
	}
	pub, err := deps.Broker.Publisher()
	if err != nil {
		return fmt.Errorf("dead-letter publisher: %w", err)
	}
	defer pub.Close()
	sub, err := deps.Broker.Subscriber(stream.SubscribeOptions{Topic: cfg.Topic, Group: cfg.Group})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", cfg.Topic, err)
	}
	defer sub.Close()

	users := deps.Users
	if users == nil {
		users = NewUsersClient(cfg.UsersURL, &http.Client{Timeout: cfg.UsersTimeout})
	}

	workers := cfg.Workers
	if database.Dialect != dialect.Postgres {
		// SQLite cannot lock rows: one worker per database is what keeps a
		// delivery from being sent twice.
		workers = 1
	}
	ws := make([]*Worker, workers)
	for i := range ws {
		ws[i] = (&Worker{
			DB: client, Dialect: database.Dialect, Email: sender,
			Logger:  logger.With("component", "delivery-worker", "worker", i),
			Backoff: cfg.Backoff, Lease: cfg.Lease, Poll: cfg.Poll,
		}).Init()
	}
	consumer := &Consumer{
		DB: client, Users: users, DLQ: pub,
		Logger: logger.With("component", "consumer"),
		Wake: func() {
			for _, w := range ws {
				w.Wake()
			}
		},
	}

	health := httpserver.Health(map[string]func(context.Context) error{
		"database": database.Ping,
		"broker":   deps.Broker.Ping,
	})
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health)

	logger.Info("notifier starting", "topic", cfg.Topic, "group", cfg.Group, "db", cfg.DBDriver, "workers", workers, "smtp", cfg.SMTP.Addr, "smtp_tls", cfg.SMTP.TLS)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := sub.Consume(gctx, consumer.Handle)
		if err != nil && gctx.Err() == nil {
			return fmt.Errorf("consume %s: %w", cfg.Topic, err)
		}
		return nil
	})
	for _, w := range ws {
		g.Go(func() error { return w.Run(gctx) })
	}
	g.Go(func() error { return httpserver.Serve(gctx, logger, cfg.HTTPAddr, mux, deps.HTTPReady) })
	err = g.Wait()
	logger.Info("notifier stopped")
	return err
}
