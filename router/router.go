// Package router is Herald's federation router: it composes the users and
// orders subgraphs into one supergraph (Cosmo's composition-go) and plans and
// executes client operations across them with graphql-go-tools.
package router

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"

	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/router/auth"
	"github.com/heraldhq/herald/router/internal/gqlwire"
	"github.com/heraldhq/herald/router/subscription"
)

// Deps holds what main constructs for the router.
type Deps struct {
	Logger *slog.Logger
	// Ready, when not nil, receives the bound address once the server
	// listens (tests listen on ":0"). The supergraph may not be ready yet:
	// /healthz answers 503 until it is.
	Ready func(net.Addr)
	// Broker feeds Subscription.notificationStatus when the built-in
	// notifications subgraph is configured; without it those subscriptions
	// answer UNAVAILABLE.
	Broker stream.Broker
	// onSubscriptions lets tests observe the subscription server.
	onSubscriptions func(*subscription.Server)
}

// Run serves the router until ctx ends, then drains requests in flight.
//
// The HTTP server listens at once; the supergraph comes from
// cfg.RouterConfigPath when set (routing URLs replaced by cfg.Subgraphs),
// otherwise from composing the SDL every subgraph serves at _service, waited
// for up to cfg.StartupWait. Until then GraphQL requests answer UNAVAILABLE.
// A supergraph that cannot be loaded or composed stops Run with the error.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	logger := deps.Logger
	logger = logging.OrDiscard(logger)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cfg = cfg.withDefaults()
	// Operations over WebSocket pass the same checks as over HTTP: the
	// handler gives the subscription server an engine that makes them
	// (handler.currentEngine).
	var verifier *auth.Verifier
	if cfg.Auth.Enabled() {
		v, err := auth.NewVerifier(ctx, cfg.Auth, &http.Client{Timeout: 10 * time.Second}, logger)
		if err != nil {
			return err
		}
		verifier = v
	} else {
		logger.Warn("no token verification configured: every caller is anonymous")
	}
	var h *handler // set below, before anything is served
	subs, err := startSubscriptions(ctx, cfg, deps, logger, subscription.WithOriginPatterns(cfg.CORSOrigins...),
		subscription.WithAuthenticate(func(ctx context.Context, payload []byte, upgrade map[string][]string) (context.Context, *gqlwire.Error) {
			return h.authenticateWS(ctx, payload, upgrade)
		}))
	if err != nil {
		return err
	}
	// Engines (and the notification stream hub) get a context of their own
	// that ends only after subs.Wait: subscriptions end with ctx (the
	// subscription server's stream contexts) and unregister from their
	// engine on the way out, so the engines stop last. A reload retires the
	// engine it replaces earlier, once nothing runs on it (installEngine).
	engineCtx, stopEngines := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		cancel()
		subs.Wait() // hijacked WebSocket connections are not drained by the HTTP server
		stopEngines()
	}()
	m := newMetrics(cfg.MetricsMaxOperations, subs)
	client := newInstrumentedSubgraphClient(cfg, m)
	defer client.CloseIdleConnections()
	h = newRouterHandler(logger, cfg, subs, m)
	h.gate.verifier = verifier

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpserver.Serve(ctx, logger, cfg.Addr, h, deps.Ready) }()

	setupErr := make(chan error, 1)
	go func() {
		rc, err := loadSupergraph(ctx, cfg, client, logger)
		if err == nil {
			err = installEngine(engineCtx, cfg, h, rc, client, subs.Hub())
		}
		if err == nil {
			logger.Info("router ready", "addr", cfg.Addr)
		}
		setupErr <- err
	}()

	select {
	case err := <-setupErr:
		if err != nil {
			cancel()
			<-serveErr
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
	case err := <-serveErr:
		cancel()
		<-setupErr
		return err
	}
	defer watchSupergraph(ctx, engineCtx, cfg, cfg.Reload, h, client, subs.Hub(), logger)()
	return <-serveErr
}

// loadSupergraph reads the committed supergraph or composes one from the
// subgraphs' live SDL, waiting up to cfg.StartupWait for subgraphs that are
// still starting.
func loadSupergraph(ctx context.Context, cfg Config, client *http.Client, logger *slog.Logger) (*nodev1.RouterConfig, error) {
	in, err := readSupergraphInput(cfg, func(remote []Subgraph) ([]Subgraph, error) {
		return FetchAllSDL(ctx, client, logger, remote, cfg.StartupWait)
	})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rc, err := in.routerConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if in.subgraphs == nil {
		logger.Info("supergraph loaded", "path", cfg.RouterConfigPath, "subgraphs", subgraphNames(cfg.Subgraphs))
	} else {
		logger.Info("supergraph composed", "subgraphs", subgraphNames(in.subgraphs), "took", time.Since(start).String())
	}
	return rc, nil
}

// startSubscriptions prepares the notification status hub (one stream
// reader for this router instance) when a broker is given, and returns the
// transports' server. The hub starts reading once a supergraph with the
// built-in notifications subgraph is installed.
func startSubscriptions(ctx context.Context, cfg Config, deps Deps, logger *slog.Logger, opts ...subscription.Option) (*subscription.Server, error) {
	var hub *subscription.Hub
	if deps.Broker != nil {
		var err error
		if hub, err = subscription.NewHub(deps.Broker, cfg.Subscriptions, logger); err != nil {
			return nil, err
		}
	} else {
		logger.Info("no stream broker given: Subscription.notificationStatus, if composed, answers UNAVAILABLE")
	}
	subs := subscription.NewServer(ctx, cfg.Subscriptions, hub, logger, opts...)
	if deps.onSubscriptions != nil {
		deps.onSubscriptions(subs)
	}
	return subs, nil
}

func subgraphNames(sgs []Subgraph) []string {
	names := make([]string, len(sgs))
	for i, sg := range sgs {
		names[i] = sg.Name
	}
	return names
}
