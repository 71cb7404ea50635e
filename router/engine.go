package router

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/heraldhq/herald/router/subscription"
)

// newSubgraphClient returns the one HTTP client every subgraph fetch shares,
// without metrics.
func newSubgraphClient(cfg Config) *http.Client { return newInstrumentedSubgraphClient(cfg, nil) }

// newInstrumentedSubgraphClient returns the one HTTP client every subgraph
// fetch shares. The keep-alive pool is sized per subgraph host: the default
// transport keeps only two idle connections per host, which under load means
// a new TCP connection for most fetches. Its transport adds the shared
// secret and the forwarded client headers, and records fetch metrics in m
// (nil: none); see headers.go.
func newInstrumentedSubgraphClient(cfg Config, m *metrics) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: cfg.SubgraphTimeout,
		Transport: newSubgraphTransport(&http.Transport{
			Proxy:                 nil, // subgraphs are internal: never route them through an environment proxy
			DialContext:           dialer.DialContext,
			MaxIdleConns:          cfg.MaxIdleConnsPerHost * max(len(cfg.Subgraphs), 1),
			MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}, cfg, m),
	}
}

// resolverOptions make subgraph errors reach clients as the subgraph wrote
// them (pass-through), with paths rewritten to the client's operation and
// only the extensions Herald's subgraphs define (code, field). Locations
// refer to the subgraph's query, not the client's, so they are dropped.
func resolverOptions(cfg Config) resolve.ResolverOptions {
	return resolve.ResolverOptions{
		MaxConcurrency:               cfg.MaxConcurrency,
		PropagateSubgraphErrors:      true,
		SubgraphErrorPropagationMode: resolve.SubgraphErrorPropagationModePassThrough,
		RewriteSubgraphErrorPaths:    true,
		OmitSubgraphErrorLocations:   true,
		AllowedErrorExtensionFields:  []string{"code", "field"},
		AllowedSubgraphErrorFields:   []string{"message", "path", "extensions"},
		MaxRecyclableParserSize:      4 << 20,
		// The engine calls it for subscription errors outside a request;
		// without one it panics.
		AsyncErrorWriter: subscription.AsyncErrorWriter{},
	}
}

// newEngine plans against rc with graphql-go-tools: the federation config
// factory turns the composed router config into planner data sources, and
// the executor (executor.go) runs operations on them. customize, when not
// nil, may adjust the configuration first (the built-in subscription data
// source is installed there).
func newEngine(ctx context.Context, cfg Config, rc *nodev1.RouterConfig, client *http.Client, customize func(*engine.Configuration) error) (*executor, error) {
	factory := engine.NewFederationEngineConfigFactory(ctx, nil,
		engine.WithFederationHttpClient(client),
		engine.WithFederationStreamingClient(&http.Client{Transport: client.Transport}),
	)
	conf, err := factory.BuildEngineConfigurationWithRouterConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("build engine configuration: %w", err)
	}
	if customize != nil {
		if err := customize(&conf); err != nil {
			return nil, err
		}
	}
	x, err := newExecutor(ctx, cfg, rc, conf)
	if err != nil {
		return nil, fmt.Errorf("create executor: %w", err)
	}
	return x, nil
}
