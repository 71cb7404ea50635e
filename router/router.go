// Package router is Herald's federation router: it composes the users and
// orders subgraphs into one supergraph (Cosmo's composition-go) and plans and
// executes client operations across them with graphql-go-tools.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"

	"github.com/heraldhq/herald/internal/httpserver"
)

// Deps holds what main constructs for the router.
type Deps struct {
	Logger *slog.Logger
	// Ready, when not nil, receives the bound address once the server
	// listens (tests listen on ":0"). The supergraph may not be ready yet:
	// /healthz answers 503 until it is.
	Ready func(net.Addr)
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
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	client := newSubgraphClient(cfg)
	defer client.CloseIdleConnections()
	h := newHandler(logger, cfg.MaxRequestBytes)

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpserver.Serve(ctx, logger, cfg.Addr, h, deps.Ready) }()

	setupErr := make(chan error, 1)
	go func() {
		rc, err := loadSupergraph(ctx, cfg, client, logger)
		if err == nil {
			err = installEngine(ctx, cfg, h, rc, client, logger)
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
	return <-serveErr
}

// loadSupergraph reads the committed supergraph or composes one from the
// subgraphs' live SDL.
func loadSupergraph(ctx context.Context, cfg Config, client *http.Client, logger *slog.Logger) (*nodev1.RouterConfig, error) {
	if cfg.RouterConfigPath != "" {
		rc, err := LoadRouterConfigFile(cfg.RouterConfigPath)
		if err != nil {
			return nil, err
		}
		if err := SetRoutingURLs(rc, cfg.Subgraphs); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.RouterConfigPath, err)
		}
		logger.Info("supergraph loaded", "path", cfg.RouterConfigPath, "subgraphs", subgraphNames(cfg.Subgraphs))
		return rc, nil
	}
	sgs, err := FetchAllSDL(ctx, client, logger, cfg.Subgraphs, cfg.StartupWait)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rc, err := Compose(ctx, sgs)
	if err != nil {
		return nil, err
	}
	logger.Info("supergraph composed", "subgraphs", subgraphNames(sgs), "took", time.Since(start).String())
	return rc, nil
}

func installEngine(ctx context.Context, cfg Config, h *handler, rc *nodev1.RouterConfig, client *http.Client, logger *slog.Logger) error {
	eng, err := newEngine(ctx, cfg, rc, client)
	if err != nil {
		return err
	}
	h.engine.Store(eng)
	logger.Info("router ready", "addr", cfg.Addr)
	return nil
}

func subgraphNames(sgs []Subgraph) []string {
	names := make([]string, len(sgs))
	for i, sg := range sgs {
		names[i] = sg.Name
	}
	return names
}
