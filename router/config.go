package router

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/subgraphauth"
	"github.com/heraldhq/herald/router/auth"
	"github.com/heraldhq/herald/router/internal/defaults"
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

	// RequestTimeout bounds a whole GraphQL request over HTTP (a batch
	// counts as one request); subscriptions are not bounded by it. Zero
	// means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Limits bound what one operation may ask for (limits.go).
	Limits Limits
	// ForwardHeaders names the client request headers passed on to
	// subgraphs; nothing else is forwarded. Nil means DefaultForwardHeaders,
	// an empty non-nil list forwards nothing. traceparent is always
	// propagated (generated when the client sent none), see headers.go.
	ForwardHeaders []string
	// SubgraphSecret, when set, is sent as X-Herald-Router-Secret on every
	// subgraph fetch (internal/subgraphauth checks it on the subgraph side).
	SubgraphSecret string
	// CORSOrigins lists the browser origins allowed to call the router
	// cross-origin (and to open its WebSocket); "*" allows any. Empty means
	// same-origin only.
	CORSOrigins []string
	// DisableIntrospection refuses __schema and __type queries.
	DisableIntrospection bool
	// DisablePlayground stops serving the GraphiQL playground.
	DisablePlayground bool
	// PlaygroundHeaders are the request headers the playground starts with
	// (the development stack's demo token). Never set it in production:
	// whoever opens the playground would call as that identity.
	PlaygroundHeaders map[string]string
	// DisableMetrics stops serving /metrics.
	DisableMetrics bool
	// MetricsMaxOperations bounds the distinct operation names used as
	// metric labels; later names are counted as "other". Zero means 100.
	MetricsMaxOperations int
	// DisableAPQ turns Automatic Persisted Queries off.
	DisableAPQ bool
	// APQCacheBytes bounds the persisted query store (sum of query sizes).
	// Zero means DefaultAPQCacheBytes.
	APQCacheBytes int
	// Auth is how bearer tokens are verified (router/auth). Nothing
	// configured: every caller is anonymous and tokens are refused (only
	// hand-built configurations; LoadConfig requires one).
	Auth auth.Config
	// RateLimit bounds each caller's request rate (gate.go); zero is off.
	RateLimit RateLimit
	// Reload re-composes while running (HERALD_ROUTER_RELOAD_INTERVAL;
	// main sets Reload.Trigger to NotifyReload for SIGHUP).
	Reload ReloadConfig
}

// Defaults of the settings a zero Config leaves out (LoadConfig declares
// them; withDefaults takes them from there).
const (
	DefaultRequestTimeout       = 60 * time.Second
	DefaultAPQCacheBytes        = 16 << 20
	DefaultMetricsMaxOperations = 100
	// DefaultForwardHeaders is the comma-separated default of
	// HERALD_ROUTER_FORWARD_HEADERS.
	DefaultForwardHeaders = "traceparent,tracestate"
)

// withDefaults gives the settings whose zero value means "the default"
// their defaults, the constants LoadConfig declares them with (tests and
// in-process callers build a Config by hand).
func (c Config) withDefaults() Config {
	c.RequestTimeout = defaults.Positive(c.RequestTimeout, DefaultRequestTimeout)
	c.APQCacheBytes = defaults.Positive(c.APQCacheBytes, DefaultAPQCacheBytes)
	c.MetricsMaxOperations = defaults.Positive(c.MetricsMaxOperations, DefaultMetricsMaxOperations)
	if c.ForwardHeaders == nil {
		c.ForwardHeaders = strings.Split(DefaultForwardHeaders, ",")
	}
	c.Limits = c.Limits.withDefaults()
	return c
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
	cfg.Auth = auth.Load(v)
	v.Check(cfg.Auth.Enabled(), "no way to verify tokens: set HERALD_AUTH_JWKS_URLS or HERALD_AUTH_PUBLIC_KEY_FILE (or, for development only, HERALD_AUTH_DEV_HS256_SECRET)")
	cfg.RateLimit = RateLimit{
		PerSecond:  float64(v.Int("HERALD_ROUTER_RATE_LIMIT", DefaultRatePerSecond, "requests per second each caller may send, sustained (per subject, per client IP when anonymous; per router instance); 0 turns limiting off (RATE_LIMITED, HTTP 429)")),
		Burst:      v.Int("HERALD_ROUTER_RATE_BURST", DefaultRateBurst, "requests a caller may send at once above the sustained rate"),
		MaxCallers: v.Int("HERALD_ROUTER_RATE_MAX_CALLERS", DefaultRateMaxCallers, "callers whose buckets are kept (least recently seen forgotten)"),
	}
	cfg.Reload = LoadReloadConfig(v)
	cfg.RequestTimeout = v.Duration("HERALD_ROUTER_REQUEST_TIMEOUT", DefaultRequestTimeout, "timeout of a whole GraphQL request over HTTP (answered 504 TIMEOUT); subscriptions are not bounded")
	cfg.Limits = Limits{
		MaxDepth:   v.Int("HERALD_ROUTER_MAX_DEPTH", DefaultMaxDepth, "deepest selection nesting an operation may have (QUERY_TOO_DEEP)"),
		MaxFields:  v.Int("HERALD_ROUTER_MAX_FIELDS", DefaultMaxFields, "most fields an operation may select, fragments expanded (QUERY_TOO_COMPLEX)"),
		MaxAliases: v.Int("HERALD_ROUTER_MAX_ALIASES", DefaultMaxAliases, "most aliased fields an operation may have, fragments expanded (QUERY_TOO_COMPLEX)"),
		MaxBatch:   v.Int("HERALD_ROUTER_MAX_BATCH", DefaultMaxBatch, "most operations in one JSON-array batched request (BATCH_TOO_LARGE)"),
		MaxQueryBytes: v.Int("HERALD_ROUTER_MAX_QUERY_BYTES", DefaultMaxQueryBytes,
			"largest query text in bytes, checked before parsing on every transport (REQUEST_TOO_LARGE)"),
		MaxTokens: v.Int("HERALD_ROUTER_MAX_TOKENS", DefaultMaxTokens,
			"most lexical tokens in a query text (comments and commas are not tokens), checked before parsing (QUERY_TOO_COMPLEX)"),
		MaxCost: v.Int("HERALD_ROUTER_MAX_COST", DefaultMaxCost,
			"largest estimated answer: values an operation's answer can hold, from list sizes (first/last arguments, literal or variables) (QUERY_TOO_EXPENSIVE)"),
		DefaultListSize: v.Int("HERALD_ROUTER_DEFAULT_LIST_SIZE", DefaultListSize,
			"size the cost estimate assumes of a list field without a first/last argument or default"),
	}
	fwd := v.List("HERALD_ROUTER_FORWARD_HEADERS", DefaultForwardHeaders, "client request headers forwarded to subgraphs, comma-separated; none forwards nothing (traceparent is always propagated)")
	cfg.ForwardHeaders = make([]string, 0, len(fwd))
	for _, h := range fwd {
		if !strings.EqualFold(h, "none") {
			cfg.ForwardHeaders = append(cfg.ForwardHeaders, h)
		}
	}
	cfg.SubgraphSecret = v.String(subgraphauth.EnvVar, "", "shared secret sent to subgraphs as X-Herald-Router-Secret (subgraphs refuse requests without it when they have it set); at least 16 characters")
	cfg.CORSOrigins = v.List("HERALD_ROUTER_CORS_ORIGINS", "", "browser origins allowed cross-origin (CORS and WebSocket), e.g. https://app.example.com; * allows any; empty is same-origin only")
	cfg.DisableIntrospection = !v.Bool("HERALD_ROUTER_INTROSPECTION", true, "answer __schema/__type introspection queries (turn off in production)")
	cfg.DisablePlayground = !v.Bool("HERALD_ROUTER_PLAYGROUND", true, "serve the GraphiQL playground at / (turn off in production)")
	cfg.DisableMetrics = !v.Bool("HERALD_ROUTER_METRICS", true, "serve Prometheus metrics at /metrics")
	cfg.MetricsMaxOperations = v.Int("HERALD_ROUTER_METRICS_MAX_OPERATIONS", DefaultMetricsMaxOperations, "distinct operation names kept as metric labels; later ones count as other")
	cfg.DisableAPQ = !v.Bool("HERALD_ROUTER_APQ", true, "accept Automatic Persisted Queries (extensions.persistedQuery)")
	cfg.APQCacheBytes = v.Int("HERALD_ROUTER_APQ_CACHE_BYTES", DefaultAPQCacheBytes, "bytes of query text the persisted query store keeps (least recently used evicted)")
	pairs := v.List("HERALD_SUBGRAPHS", DefaultSubgraphs, "subgraphs as comma-separated name=url pairs; notifications=builtin is the router's own live notification status subgraph")
	sgs, err := ParseSubgraphs(pairs)
	v.Check(err == nil, "HERALD_SUBGRAPHS: %v", err)
	cfg.Subgraphs = sgs
	v.Check(cfg.MaxRequestBytes > 0, "HERALD_ROUTER_MAX_REQUEST_BYTES: must be positive")
	v.Check(cfg.SubgraphTimeout > 0, "HERALD_ROUTER_SUBGRAPH_TIMEOUT: must be positive")
	v.Check(cfg.MaxIdleConnsPerHost > 0, "HERALD_ROUTER_MAX_IDLE_CONNS_PER_HOST: must be positive")
	v.Check(cfg.MaxConcurrency > 0, "HERALD_ROUTER_MAX_CONCURRENCY: must be positive")
	v.Check(cfg.RequestTimeout > 0, "HERALD_ROUTER_REQUEST_TIMEOUT: must be positive")
	v.Check(cfg.Limits.MaxDepth > 0, "HERALD_ROUTER_MAX_DEPTH: must be positive")
	v.Check(cfg.Limits.MaxFields > 0, "HERALD_ROUTER_MAX_FIELDS: must be positive")
	v.Check(cfg.Limits.MaxAliases > 0, "HERALD_ROUTER_MAX_ALIASES: must be positive")
	v.Check(cfg.Limits.MaxBatch > 0, "HERALD_ROUTER_MAX_BATCH: must be positive")
	v.Check(cfg.Limits.MaxQueryBytes > 0, "HERALD_ROUTER_MAX_QUERY_BYTES: must be positive")
	v.Check(cfg.Limits.MaxTokens > 0, "HERALD_ROUTER_MAX_TOKENS: must be positive")
	v.Check(cfg.Limits.MaxCost > 0, "HERALD_ROUTER_MAX_COST: must be positive")
	v.Check(cfg.Limits.DefaultListSize > 0, "HERALD_ROUTER_DEFAULT_LIST_SIZE: must be positive")
	v.Check(cfg.MetricsMaxOperations > 0, "HERALD_ROUTER_METRICS_MAX_OPERATIONS: must be positive")
	v.Check(cfg.APQCacheBytes > 0, "HERALD_ROUTER_APQ_CACHE_BYTES: must be positive")
	v.Check(cfg.SubgraphSecret == "" || len(cfg.SubgraphSecret) >= 16, "%s: must be at least 16 characters", subgraphauth.EnvVar)
	for _, h := range cfg.ForwardHeaders {
		v.Check(validHeaderName(h), "HERALD_ROUTER_FORWARD_HEADERS: %q is not a header name", h)
	}
	for _, o := range cfg.CORSOrigins {
		v.Check(validOrigin(o), "HERALD_ROUTER_CORS_ORIGINS: %q is not * or an origin such as https://app.example.com", o)
	}
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
