// Command orders runs the orders subgraph and its outbox relay.
// Configuration comes from environment variables; run with --help to list them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/config"
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

// run returns the process exit code: 0 after a clean shutdown or --help,
// 2 for invalid configuration, 1 when the service fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	v := config.New(getenv)
	level := v.Enum("HERALD_LOG_LEVEL", "info", "log level", "debug", "info", "warn", "error")
	cfg := orders.LoadConfig(v)
	streamCfg := backend.LoadConfig(v)
	if config.WantsHelp(args) {
		v.Usage(stdout, "orders", "the Herald orders subgraph (GraphQL federation v2) and its outbox relay")
		return 0
	}
	if err := v.Err(); err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	logger := logging.New(stdout, level, "orders")
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
