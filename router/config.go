package router

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/router/subscription"
)

// DefaultSubgraphs is the local development topology: users on :4001,
// orders on :4002 and the router's built-in notifications subgraph (live
// notification status, see router/subscription), in the order the supergraph
// is composed.
const DefaultSubgraphs = "users=http://127.0.0.1:4001/graphql,orders=http://127.0.0.1:4002/graphql,notifications=builtin"

// Subgraph names one subgraph and where the router sends its fetches. SDL is
// filled in when the schema is known (read from a file or fetched).
type Subgraph struct {
	Name string
	URL  string
	SDL  string
}

// Config is everything the router reads from its environment.
type Config struct {
	// Addr is the listen address of the HTTP server.
	Addr string
	// Subgraphs lists every subgraph with its routing URL, in composition order.
	Subgraphs []Subgraph
	// RouterConfigPath, when set, is a composed supergraph (schema/supergraph.json)
	// used instead of composing at start-up; its routing URLs are replaced by
	// those in Subgraphs.
	RouterConfigPath string
	// MaxRequestBytes bounds the body of a GraphQL request.
	MaxRequestBytes int64
	// SubgraphTimeout bounds one fetch from a subgraph, body included.
	SubgraphTimeout time.Duration
	// StartupWait bounds how long start-up waits for subgraphs to answer
	// their _service query before giving up.
	StartupWait time.Duration
	// MaxIdleConnsPerHost sizes the keep-alive pool towards each subgraph.
	MaxIdleConnsPerHost int
	// MaxConcurrency bounds concurrent resolves in the engine.
	MaxConcurrency int
	// Subscriptions tunes live notification status (router/subscription).
	Subscriptions subscription.Config
}

// LoadConfig declares and validates the router's environment variables.
func LoadConfig(v *config.Vars) Config {
	cfg := Config{
		Addr:                v.String("HERALD_HTTP_ADDR", ":4000", "router listen address"),
		RouterConfigPath:    v.String("HERALD_ROUTER_CONFIG", "", "composed supergraph JSON (schema/supergraph.json); empty composes from the subgraphs' _service SDL at start-up"),
		MaxRequestBytes:     int64(v.Int("HERALD_ROUTER_MAX_REQUEST_BYTES", 1<<20, "largest accepted GraphQL request body in bytes")),
		SubgraphTimeout:     v.Duration("HERALD_ROUTER_SUBGRAPH_TIMEOUT", 30*time.Second, "timeout of one subgraph fetch"),
		StartupWait:         v.Duration("HERALD_ROUTER_STARTUP_WAIT", 60*time.Second, "how long start-up waits for subgraphs to serve their SDL"),
		MaxIdleConnsPerHost: v.Int("HERALD_ROUTER_MAX_IDLE_CONNS_PER_HOST", 128, "keep-alive connections kept per subgraph"),
		MaxConcurrency:      v.Int("HERALD_ROUTER_MAX_CONCURRENCY", 1024, "concurrent resolves the engine runs at most"),
	}
	cfg.Subscriptions = subscription.LoadConfig(v)
	pairs := v.List("HERALD_SUBGRAPHS", DefaultSubgraphs, "subgraphs as comma-separated name=url pairs; notifications=builtin is the router's own live notification status subgraph")
	sgs, err := ParseSubgraphs(pairs)
	v.Check(err == nil, "HERALD_SUBGRAPHS: %v", err)
	cfg.Subgraphs = sgs
	v.Check(cfg.MaxRequestBytes > 0, "HERALD_ROUTER_MAX_REQUEST_BYTES: must be positive")
	v.Check(cfg.SubgraphTimeout > 0, "HERALD_ROUTER_SUBGRAPH_TIMEOUT: must be positive")
	v.Check(cfg.MaxIdleConnsPerHost > 0, "HERALD_ROUTER_MAX_IDLE_CONNS_PER_HOST: must be positive")
	v.Check(cfg.MaxConcurrency > 0, "HERALD_ROUTER_MAX_CONCURRENCY: must be positive")
	return cfg
}

// ParseSubgraphs reads name=url pairs. Names must be unique and URLs absolute
// http(s) URLs, except notifications=builtin (served by the router itself).
func ParseSubgraphs(pairs []string) ([]Subgraph, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("no subgraphs given")
	}
	seen := make(map[string]bool, len(pairs))
	out := make([]Subgraph, 0, len(pairs))
	for _, p := range pairs {
		name, raw, ok := strings.Cut(p, "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("%q is not a name=url pair", p)
		}
		if raw == subscription.BuiltinURL {
			if name != subscription.SubgraphName {
				return nil, fmt.Errorf("subgraph %s: only %s can be builtin", name, subscription.SubgraphName)
			}
		} else if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("subgraph %s: %q is not an http(s) URL", name, raw)
		}
		if seen[name] {
			return nil, fmt.Errorf("subgraph %s named twice", name)
		}
		seen[name] = true
		out = append(out, Subgraph{Name: name, URL: raw})
	}
	return out, nil
}
