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
//
// Request deduplication is on: identical queries in flight at the same time
// (same operation, variables and forwarded headers) are resolved once and
// the answer shared, and so are identical subgraph fetches of queries. The
// key includes the headers forwarded to subgraphs (see outboundHeaders), so
// one client's credentials never answer another's request. The shard count
// follows GOMAXPROCS, so the dedup maps scale with the cores the process has.
func resolverOptions(cfg Config) resolve.ResolverOptions {
	return resolve.ResolverOptions{
		MaxConcurrency:                         cfg.MaxConcurrency,
		PropagateSubgraphErrors:                true,
		SubgraphErrorPropagationMode:           resolve.SubgraphErrorPropagationModePassThrough,
		RewriteSubgraphErrorPaths:              true,
		OmitSubgraphErrorLocations:             true,
		AllowedErrorExtensionFields:            []string{"code", "field"},
		AllowedSubgraphErrorFields:             []string{"message", "path", "extensions"},
		MaxRecyclableParserSize:                4 << 20,
		SetDeduplicationShardCountToGOMAXPROCS: true,
		// The engine calls it for subscription errors outside a request;
		// without one it panics.
		AsyncErrorWriter: subscription.AsyncErrorWriter{},
	}
}

// newEngine plans against rc with graphql-go-tools: engineConfiguration
// (planconfig.go) turns the composed router config into planner data
// sources, and the executor (executor.go) runs operations on them. customize, when not
// nil, may adjust the configuration first (the built-in subscription data
// source is installed there); it gets the engine's own context.
//
// The engine lives until ctx ends or, once retired (a reload replaced it),
// until its last request or subscription finished: its resolver's and data
// sources' goroutines end then.
func newEngine(ctx context.Context, cfg Config, rc *nodev1.RouterConfig, client *http.Client, customize func(context.Context, *engine.Configuration) error) (*executor, error) {
	ectx, cancel := context.WithCancel(ctx)
	conf, err := engineConfiguration(ectx, rc, client)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("build engine configuration: %w", err)
	}
	if customize != nil {
		if err := customize(ectx, &conf); err != nil {
			cancel()
			return nil, err
		}
	}
	x, err := newExecutor(ectx, cfg, rc, conf)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("create executor: %w", err)
	}
	x.stop = cancel
	x.refs.Store(1) // the installation's reference; retire drops it
	return x, nil
}

// acquire takes a reference for one request or subscription; false when
// the engine was retired and has already been released (the caller loads
// the current engine again).
func (x *executor) acquire() bool {
	for {
		n := x.refs.Load()
		if n <= 0 {
			return false
		}
		if x.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one stops the engine.
func (x *executor) release() {
	if x.refs.Add(-1) == 0 {
		x.stop()
	}
}

// retire drops the installation's reference: the engine stops once what
// runs on it has finished. Call it after the replacement is installed.
func (x *executor) retire() { x.release() }

// stopped is closed once the engine has been released.
func (x *executor) stopped() <-chan struct{} { return x.ctx.Done() }
