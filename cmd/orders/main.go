// Command orders runs the orders subgraph and its outbox relay.
// Configuration comes from environment variables; run with --help to list them.
//
//	orders            serve (applies pending migrations first unless HERALD_DB_MIGRATE=off)
//	orders migrate    apply pending database migrations and exit (a release step)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/subgraphs/orders"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// run returns the process exit code: 0 after a clean shutdown, a finished
// migration or --help, 2 for invalid configuration or arguments, 1 when the
// service fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	args, checkOnly := config.WantsCheck(args)
	v := config.New(getenv)
	level := logging.LoadLevel(v)
	cfg := orders.LoadConfig(v)
	streamCfg := backend.LoadConfig(v)
	if config.WantsHelp(args) {
		v.Usage(stdout, "orders", "the Herald orders subgraph (GraphQL federation v2) and its outbox relay\n\n"+
			"Usage: orders            serve\n"+
			"       orders migrate    apply pending database migrations and exit\n"+
			"       orders [migrate] "+config.CheckFlag+"    validate the environment (and arguments) and exit")
		return 0
	}
	migrateOnly := false
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "migrate":
		migrateOnly = true
	default:
		fmt.Fprintf(stdout, "orders: unknown arguments %q (want no arguments, migrate or --help)\n", args)
		return 2
	}
	if !migrateOnly {
		// Run refuses this as well; checked here, it is reported with the
		// other problems, and by --check-config.
		if err := gqlserver.CheckListen(cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge); err != nil {
			v.Check(false, "HERALD_HTTP_ADDR: %v", err)
		}
	}
	if err := v.Err(); err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	if checkOnly {
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	logger := logging.New(stdout, level, "orders")
	if migrateOnly {
		// Needs only the database: no broker is opened.
		if err := orders.Migrate(ctx, cfg, logger); err != nil {
			logger.Error("migration failed", "err", err.Error())
			return 1
		}
		logger.Info("database schema is current")
		return 0
	}
	broker, err := backend.Open(ctx, streamCfg, logger)
	if err != nil {
		logger.Error("stream broker unavailable", "err", err.Error())
		return 1
	}
	defer broker.Close()
	if err := orders.Run(ctx, cfg, orders.Deps{Logger: logger, Broker: broker}); err != nil {
		logger.Error("orders stopped", "err", err.Error())
		return 1
	}
	logger.Info("orders stopped cleanly")
	return 0
}
