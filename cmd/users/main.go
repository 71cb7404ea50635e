// Command users runs the users subgraph and its OrderCreated counter.
// Configuration comes from environment variables; run with --help to list
// them.
//
//	users            serve (applies pending migrations first unless HERALD_DB_MIGRATE=off)
//	users migrate    apply pending database migrations and exit (a release step)
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
	"github.com/heraldhq/herald/subgraphs/users"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// run returns the process exit code: 0 after a clean shutdown, a finished
// migration or --help, 2 for invalid configuration or arguments, 1 when
// the service fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	args, checkOnly := config.WantsCheck(args)
	v := config.New(getenv)
	level := logging.LoadLevel(v)
	cfg := users.LoadConfig(v)
	consume := v.Bool("HERALD_USERS_CONSUMER", true,
		"count orders from the OrderCreated topic (needs the stream backend below)")
	streamCfg := backend.LoadConfig(v)
	if config.WantsHelp(args) {
		v.Usage(stdout, "users", "the Herald users subgraph (GraphQL federation v2)\n\n"+
			"Usage: users            serve\n"+
			"       users migrate    apply pending database migrations and exit\n"+
			"       users [migrate] "+config.CheckFlag+"    validate the environment (and arguments) and exit")
		return 0
	}
	migrateOnly := false
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "migrate":
		migrateOnly = true
	default:
		fmt.Fprintf(stdout, "users: unknown arguments %q (want no arguments, migrate or --help)\n", args)
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
	logger := logging.New(stdout, level, "users")
	if migrateOnly {
		if err := users.Migrate(ctx, cfg, logger); err != nil {
			logger.Error("migration failed", "err", err.Error())
			return 1
		}
		logger.Info("database schema is current")
		return 0
	}
	deps := users.Deps{Logger: logger}
	if consume {
		broker, err := backend.Open(ctx, streamCfg, logger)
		if err != nil {
			logger.Error("stream broker unavailable", "err", err.Error())
			return 1
		}
		defer broker.Close()
		deps.Broker = broker
	}
	if err := users.Run(ctx, cfg, deps); err != nil {
		logger.Error("users failed", "err", err.Error())
		return 1
	}
	logger.Info("users stopped cleanly")
	return 0
}
