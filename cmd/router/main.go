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
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/router"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// run returns the process exit code: 0 after a clean shutdown or --help,
// 2 for invalid configuration or usage, 1 when the router fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	if len(args) > 0 && args[0] == "compose" {
		return compose(ctx, args[1:], stdout)
	}
	args, checkOnly := config.WantsCheck(args)
	v := config.New(getenv)
	level := logging.LoadLevel(v)
	cfg := router.LoadConfig(v)
	streamCfg := backend.LoadConfig(v)
	if config.WantsHelp(args) {
		v.Usage(stdout, "router", "Herald's GraphQL federation router (GraphiQL at /, GraphQL at /graphql)")
		fmt.Fprintln(stdout, "\nSubcommands:\n  compose    compose schema/*.graphqls into schema/supergraph.json (see router compose --help)")
		fmt.Fprintln(stdout, "\nWith "+config.CheckFlag+" the router validates the environment and exits.")
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stdout, "router: unknown argument %q (try --help)\n", args[0])
		return 2
	}
	if err := v.Err(); err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	if checkOnly {
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	logger := logging.New(stdout, level, "router")
	// SIGHUP re-reads the subgraphs' SDL (or HERALD_ROUTER_CONFIG) and swaps
	// in a changed composition without dropping requests.
	cfg.Reload.Trigger = router.NotifyReload(ctx)
	// The broker feeds the notificationStatus subscription; every router
	// instance reads the whole status topic itself.
	broker, err := backend.Open(ctx, streamCfg, logger)
	if err != nil {
		logger.Error("open stream backend", "err", err.Error())
		return 1
	}
	defer broker.Close()
	if err := router.Run(ctx, cfg, router.Deps{Logger: logger, Broker: broker}); err != nil {
		logger.Error("router stopped", "err", err.Error())
		return 1
	}
	return 0
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
