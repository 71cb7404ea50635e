package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/bench/internal/routerproc"
	"github.com/heraldhq/herald/bench/router/subgraphs"
	"github.com/heraldhq/herald/router"
)

// composeSupergraph fetches each subgraph's _service SDL as the router
// does and runs `router compose` on it in dir, as a deployment does at build time. It returns the
// composed file's path.
func composeSupergraph(ctx context.Context, bin, dir string, set *subgraphs.Set) (string, error) {
	sdl := map[string]string{}
	for _, name := range subgraphs.Names {
		text, err := router.FetchSDL(ctx, http.DefaultClient, router.Subgraph{Name: name, URL: set.URLs[name]})
		if err != nil {
			return "", fmt.Errorf("SDL of %s: %w", name, err)
		}
		sdl[name] = text
	}
	return routerproc.Compose(ctx, bin, dir, set.RouterEnv(), sdl)
}

// startRouter runs bin on a free loopback port against set and waits until
// /healthz answers 200 (the supergraph is loaded).
func startRouter(ctx context.Context, bin, logPath string, set *subgraphs.Set, supergraph string, tokenCache bool) (*routerproc.Proc, error) {
	// The deep query nests four lists without first (reviews), so its
	// worst-case estimate is about 5 million values against the default
	// cost limit of 50,000; its real answer is 22 kB. The benchmark
	// measures execution, not the cost limit.
	env := []string{"HERALD_ROUTER_MAX_COST=10000000"}
	if !tokenCache {
		env = append(env, "HERALD_AUTH_CACHE_SIZE=0")
	}
	return routerproc.Start(ctx, bin, logPath, routerproc.Options{Subgraphs: set.RouterEnv(), Supergraph: supergraph, Env: env})
}
