package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/wundergraph/cosmo/composition-go"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/heraldhq/herald/router/subscription"
)

// CompositionError is a supergraph composition failure. Its message is the
// composer's own, which names the subgraph and the type or field at fault.
type CompositionError struct {
	Subgraphs []string
	Message   string
}

func (e *CompositionError) Error() string {
	return fmt.Sprintf("compose supergraph of %s: %s", strings.Join(e.Subgraphs, ", "), e.Message)
}

// jsStackSuffix matches the " at fn (<eval>:line:col(n))" position goja adds
// to errors thrown by the composer: it points into minified JavaScript and
// would only hide the message.
var jsStackSuffix = regexp.MustCompile(`\s+at \S+ \(<eval>[^)]*\)+\s*$`)

// Compose composes the subgraphs (each with its SDL) into a router
// configuration with Cosmo's composition-go. The engine only reads a
// composed configuration, so composing is the router's own step.
func Compose(ctx context.Context, subgraphs []Subgraph) (*nodev1.RouterConfig, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := make([]string, len(subgraphs))
	in := make([]*composition.Subgraph, len(subgraphs))
	for i, sg := range subgraphs {
		if strings.TrimSpace(sg.SDL) == "" {
			// composition-go would introspect the URL itself: the router
			// fetches SDL with its own client (secret, timeouts) instead.
			return nil, fmt.Errorf("compose supergraph: subgraph %s has no SDL", sg.Name)
		}
		names[i] = sg.Name
		// Subscriptions are served by the router itself (the built-in
		// notifications subgraph), never proxied over WebSocket, but the
		// composer wants a protocol.
		in[i] = &composition.Subgraph{Name: sg.Name, URL: sg.URL, Schema: sg.SDL, SubscriptionProtocol: "ws"}
	}
	out, err := composition.BuildRouterConfiguration(in...)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "Error: ")
		msg = jsStackSuffix.ReplaceAllString(msg, "")
		return nil, &CompositionError{Subgraphs: names, Message: msg}
	}
	var rc nodev1.RouterConfig
	if err := protojson.Unmarshal([]byte(out), &rc); err != nil {
		return nil, fmt.Errorf("compose supergraph: parse the composer's router config: %w", err)
	}
	nameDataSources(&rc)
	return &rc, nil
}

// nameDataSources replaces the composer's numeric data source ids ("0",
// "1") with subgraph names. The engine quotes the id in fetch errors
// ("Failed to fetch from Subgraph 'users'"), where a number tells an
// operator nothing.
func nameDataSources(rc *nodev1.RouterConfig) {
	names := make(map[string]string, len(rc.GetSubgraphs()))
	for _, s := range rc.GetSubgraphs() {
		names[s.GetId()] = s.GetName()
		s.Id = s.GetName()
	}
	for _, ds := range rc.GetEngineConfig().GetDatasourceConfigurations() {
		if name, ok := names[ds.GetId()]; ok {
			ds.Id = name
		}
	}
}

// MarshalRouterConfig renders a router configuration as indented JSON with
// a stable byte layout (protojson varies its whitespace on purpose, so the
// output is re-indented), suitable for committing.
func MarshalRouterConfig(rc *nodev1.RouterConfig) ([]byte, error) {
	raw, err := protojson.Marshal(rc)
	if err != nil {
		return nil, fmt.Errorf("marshal router config: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent router config: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// UnmarshalRouterConfig parses what MarshalRouterConfig wrote (or any
// composer output in the same protojson form).
func UnmarshalRouterConfig(data []byte) (*nodev1.RouterConfig, error) {
	var rc nodev1.RouterConfig
	if err := protojson.Unmarshal(data, &rc); err != nil {
		return nil, fmt.Errorf("parse router config: %w", err)
	}
	if rc.GetEngineConfig() == nil || rc.GetEngineConfig().GetGraphqlSchema() == "" {
		return nil, errors.New("parse router config: no engine configuration or schema")
	}
	return &rc, nil
}

// LoadRouterConfigFile reads a committed supergraph file.
func LoadRouterConfigFile(path string) (*nodev1.RouterConfig, error) {
	data, err := readRouterConfigFile(path)
	if err != nil {
		return nil, err
	}
	rc, err := UnmarshalRouterConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rc, nil
}

func readRouterConfigFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read router config: %w", err)
	}
	return data, nil
}

// SetRoutingURLs points every data source of rc at the URL configured for its
// subgraph. The composed file carries development URLs; deployments differ
// only here. Every subgraph of rc must be configured and vice versa, so a
// typo cannot silently route to the committed default.
func SetRoutingURLs(rc *nodev1.RouterConfig, subgraphs []Subgraph) error {
	urls := make(map[string]string, len(subgraphs))
	for _, sg := range subgraphs {
		urls[sg.Name] = sg.URL
	}
	byID := make(map[string]string, len(rc.GetSubgraphs()))
	var problems []string
	for _, s := range rc.GetSubgraphs() {
		u, ok := urls[s.GetName()]
		if s.GetName() == subscription.SubgraphName && (!ok || u == subscription.BuiltinURL) {
			// The router serves it itself: it has no URL, configured or not.
			u, ok = "", true
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("subgraph %s is in the router config but has no URL in HERALD_SUBGRAPHS", s.GetName()))
			continue
		}
		delete(urls, s.GetName())
		s.RoutingUrl = u
		byID[s.GetId()] = u
	}
	for name := range urls {
		problems = append(problems, fmt.Sprintf("subgraph %s is configured but not part of the router config", name))
	}
	if len(problems) > 0 {
		return fmt.Errorf("routing URLs: %s", strings.Join(problems, "; "))
	}
	for _, ds := range rc.GetEngineConfig().GetDatasourceConfigurations() {
		u, ok := byID[ds.GetId()]
		if !ok || ds.GetCustomGraphql() == nil {
			return fmt.Errorf("routing URLs: data source %s belongs to no known subgraph", ds.GetId())
		}
		gql := ds.GetCustomGraphql()
		if gql.Fetch == nil {
			gql.Fetch = &nodev1.FetchConfiguration{}
		}
		gql.Fetch.Url = staticVariable(u)
		if gql.Subscription != nil {
			gql.Subscription.Url = staticVariable(u)
		}
	}
	return nil
}

func staticVariable(s string) *nodev1.ConfigurationVariable {
	return &nodev1.ConfigurationVariable{
		Kind:                  nodev1.ConfigurationVariableKind_STATIC_CONFIGURATION_VARIABLE,
		StaticVariableContent: s,
	}
}

// ReadSDLFiles fills each subgraph's SDL from schemaDir/<name>.graphqls.
func ReadSDLFiles(subgraphs []Subgraph, schemaDir string) ([]Subgraph, error) {
	out := make([]Subgraph, len(subgraphs))
	for i, sg := range subgraphs {
		data, err := os.ReadFile(schemaDir + "/" + sg.Name + ".graphqls")
		if err != nil {
			return nil, fmt.Errorf("subgraph %s: %w", sg.Name, err)
		}
		sg.SDL = string(data)
		out[i] = sg
	}
	return out, nil
}

const serviceSDLQuery = `{"query":"query ServiceSDL { _service { sdl } }"}`

// FetchSDL asks one subgraph for its federation SDL (_service { sdl }).
func FetchSDL(ctx context.Context, client *http.Client, sg Subgraph) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sg.URL, strings.NewReader(serviceSDLQuery))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var out struct {
		Data struct {
			Service struct {
				SDL string `json:"sdl"`
			} `json:"_service"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("decode _service response: %w", err)
	}
	if len(out.Errors) > 0 {
		return "", fmt.Errorf("_service query failed: %s", out.Errors[0].Message)
	}
	if strings.TrimSpace(out.Data.Service.SDL) == "" {
		return "", errors.New("_service returned an empty SDL")
	}
	return out.Data.Service.SDL, nil
}

// FetchAllSDL fetches every subgraph's SDL, retrying each until it answers or
// wait has passed. Subgraphs commonly start beside the router, so a refused
// connection at first is expected; each failed attempt is logged naming the
// subgraph. Retries wait 100 ms, doubling up to 2 s, without jitter: one
// router waits for its own subgraphs, there is no herd to spread.
func FetchAllSDL(parent context.Context, client *http.Client, logger *slog.Logger, subgraphs []Subgraph, wait time.Duration) ([]Subgraph, error) {
	ctx, cancel := context.WithTimeout(parent, wait)
	defer cancel()
	out := make([]Subgraph, len(subgraphs))
	for i, sg := range subgraphs {
		attempt := 0
		var last error // the subgraph's own failure, not the deadline's
		sdl, err := backoff.Retry(ctx, func() (string, error) {
			attempt++
			sdl, err := FetchSDL(ctx, client, sg)
			if err != nil {
				last = err
				logger.Warn("subgraph SDL not available yet", "subgraph", sg.Name, "url", sg.URL, "attempt", attempt, "err", err)
			}
			return sdl, err
		},
			backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 2 * time.Second}),
			backoff.WithMaxElapsedTime(0)) // wait, through ctx, is the only limit
		if err != nil {
			if parent.Err() != nil {
				return nil, parent.Err() // shutting down, not a failure
			}
			return nil, fmt.Errorf("subgraph %s (%s) did not serve its SDL within %s: %w", sg.Name, sg.URL, wait, last)
		}
		sg.SDL = sdl
		out[i] = sg
		logger.Info("fetched subgraph SDL", "subgraph", sg.Name, "url", sg.URL, "attempts", attempt)
	}
	return out, nil
}
