package router

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"

	"github.com/heraldhq/herald/router/subscription"
)

// Start-up and reloads make a supergraph the same way, with the code below:
// read the input (readSupergraphInput), turn it into a router config
// (supergraphInput.routerConfig) and build the engine that serves it
// (installEngine). They differ only in how they wait for subgraphs (start-up
// retries while they start; a reload asks once) and in what they log.

// supergraphInput is what one supergraph is made from: the committed router
// config file, or every configured subgraph with its SDL.
type supergraphInput struct {
	file      []byte     // the content of cfg.RouterConfigPath; nil when composing
	subgraphs []Subgraph // cfg.Subgraphs with their SDL; nil with a file
	// fingerprint identifies the input, so that a reload composes only
	// what changed.
	fingerprint [sha256.Size]byte
}

// readSupergraphInput reads cfg.RouterConfigPath when set; otherwise it
// fills every subgraph's SDL: the built-in notifications subgraph's is the
// router's own, the others' come from fetchRemote, given them in
// configuration order (and returning them in that order).
func readSupergraphInput(cfg Config, fetchRemote func([]Subgraph) ([]Subgraph, error)) (supergraphInput, error) {
	if cfg.RouterConfigPath != "" {
		data, err := readRouterConfigFile(cfg.RouterConfigPath)
		if err != nil {
			return supergraphInput{}, err
		}
		return supergraphInput{file: data, fingerprint: sha256.Sum256(data)}, nil
	}
	var remote []Subgraph
	for _, sg := range cfg.Subgraphs {
		if sg.URL != subscription.BuiltinURL {
			remote = append(remote, sg)
		}
	}
	fetched, err := fetchRemote(remote)
	if err != nil {
		return supergraphInput{}, err
	}
	in := supergraphInput{subgraphs: make([]Subgraph, 0, len(cfg.Subgraphs))}
	h := sha256.New()
	for _, sg := range cfg.Subgraphs {
		if sg.URL == subscription.BuiltinURL {
			sg.SDL = subscription.SDL
		} else {
			sg, fetched = fetched[0], fetched[1:]
		}
		in.subgraphs = append(in.subgraphs, sg)
		fmt.Fprintf(h, "%d:%s\x00%d:%s\x00%d:%s\x00", len(sg.Name), sg.Name, len(sg.URL), sg.URL, len(sg.SDL), sg.SDL)
	}
	copy(in.fingerprint[:], h.Sum(nil))
	return in, nil
}

// routerConfig turns the input into the router config to serve: the file
// parsed, with its routing URLs replaced by cfg.Subgraphs, or the subgraphs
// composed (a *CompositionError when they do not compose).
func (in supergraphInput) routerConfig(ctx context.Context, cfg Config) (*nodev1.RouterConfig, error) {
	if in.subgraphs == nil {
		rc, err := UnmarshalRouterConfig(in.file)
		if err == nil {
			err = SetRoutingURLs(rc, cfg.Subgraphs)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.RouterConfigPath, err)
		}
		return rc, nil
	}
	return Compose(ctx, in.subgraphs)
}

// installEngine builds the engine for rc (its inaccessible types and enum
// values marked for the planner: markInaccessible), with the built-in
// notifications data source fed by hub, and swaps it into h: requests that
// loaded the previous engine finish on it, new ones see rc. The previous
// engine is retired: it stops once its last request or subscription has
// finished. ctx bounds the engines and the hub (the router's lifetime).
func installEngine(ctx context.Context, cfg Config, h *handler, rc *nodev1.RouterConfig, client *http.Client, hub *subscription.Hub) error {
	rc, err := markInaccessible(rc)
	if err != nil {
		return err
	}
	eng, err := newEngine(ctx, cfg, rc, client, func(ectx context.Context, conf *engine.Configuration) error {
		return subscription.Install(ectx, conf, rc, hub)
	})
	if err != nil {
		return err
	}
	if hub != nil && subscription.Serves(rc) {
		hub.Start(ctx) // the graph serves notificationStatus: read the stream (once)
	}
	if old := h.engine.Swap(eng); old != nil {
		old.retire()
	}
	return nil
}
