// Command router runs Herald's federation router, or composes the committed
// supergraph with `router compose`. Configuration comes from environment
// variables; run with --help to list them.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/router"
)

func main() { service.Main(cmd) }

var cmd = service.Command{
	Name:    "router",
	Summary: "Herald's GraphQL federation router (GraphiQL at /, GraphQL at /graphql)",
	// The broker feeds the notificationStatus subscription; every router
	// instance reads the whole status topic itself.
	Stream: true,
	Load: func(v *config.Vars) service.Plan {
		cfg := router.LoadConfig(v)
		return service.Plan{
			Serve: func(ctx context.Context, rt service.Runtime) error {
				// SIGHUP re-reads the subgraphs' SDL (or HERALD_ROUTER_CONFIG)
				// and swaps in a changed composition without dropping requests.
				cfg.Reload.Trigger = router.NotifyReload(ctx)
				return router.Run(ctx, cfg, router.Deps{Logger: rt.Logger, Broker: rt.Broker})
			},
			Subcommands: []service.Subcommand{{
				Name:     "compose",
				Synopsis: "compose [flags]",
				Help:     "compose schema/*.graphqls into schema/supergraph.json (see router compose --help)",
				Run:      func(ctx context.Context, c service.Call) int { return compose(ctx, c.Args, c.Stdout) },
			}},
		}
	},
}

// compose writes the supergraph from SDL files. It reads no environment, so
// `go generate` produces the same bytes everywhere; deployments replace the
// routing URLs at start-up (HERALD_SUBGRAPHS).
func compose(ctx context.Context, args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet("router compose", flag.ContinueOnError)
	fs.SetOutput(stdout)
	subgraphs := fs.String("subgraphs", router.DefaultSubgraphs, "name=url pairs; each name's SDL is <schema-dir>/<name>.graphqls")
	schemaDir := fs.String("schema-dir", "schema", "directory of the subgraph SDL files")
	out := fs.String("out", "schema/supergraph.json", "where to write the composed router configuration")
	check := fs.Bool("check", false, "only verify that -out is up to date (exit 1 when it is not)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	sgs, err := router.ParseSubgraphs(strings.Split(*subgraphs, ","))
	if err == nil {
		sgs, err = router.ReadSDLFiles(sgs, *schemaDir)
	}
	if err != nil {
		fmt.Fprintln(stdout, "router compose:", err)
		return 2
	}
	rc, err := router.Compose(ctx, sgs)
	if err != nil {
		fmt.Fprintln(stdout, "router compose:", err)
		return 1
	}
	data, err := router.MarshalRouterConfig(rc)
	if err != nil {
		fmt.Fprintln(stdout, "router compose:", err)
		return 1
	}
	if *check {
		old, err := os.ReadFile(*out)
		if err != nil || !bytes.Equal(old, data) {
			fmt.Fprintf(stdout, "router compose: %s is out of date; run go generate ./router\n", *out)
			return 1
		}
		return 0
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(stdout, "router compose:", err)
		return 1
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(stdout, "router compose:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", *out, strings.Join(subgraphNamesOf(sgs), ", "))
	return 0
}

func subgraphNamesOf(sgs []router.Subgraph) []string {
	out := make([]string, len(sgs))
	for i, sg := range sgs {
		out[i] = sg.Name
	}
	return out
}
