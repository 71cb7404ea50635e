// Command notifier consumes OrderCreated events and sends the notifications
// they imply. Configuration comes from environment variables; run with
// --help to list them.
//
// Subcommands:
//
//	notifier                       run the service (applies pending migrations first unless HERALD_DB_MIGRATE=off)
//	notifier migrate               apply pending database migrations and exit (a release step)
//	notifier dlq replay [flags]    republish dead letters to their topic
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/notifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// run returns the process exit code: 0 after a clean shutdown or --help,
// 2 for invalid configuration or usage, 1 when the service fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	args, checkOnly := config.WantsCheck(args)
	v := config.New(getenv)
	level := logging.LoadLevel(v)
	streamCfg := backend.LoadConfig(v)
	cfg := notifier.LoadConfig(v) // with the channels' variables (cfg.Channels)

	if len(args) >= 1 && args[0] == "dlq" {
		return runDLQ(ctx, args[1:], checkOnly, v, level, streamCfg, cfg, stdout)
	}
	if config.WantsHelp(args) {
		v.Usage(stdout, "notifier", "consumes OrderCreated and delivers Herald's notifications\n\n"+
			"Subcommands:\n"+
			"  migrate                                       apply pending database migrations and exit\n"+
			"  dlq replay [-topic T] [-limit N] [-group G]   republish the dead letters present at its start (see: notifier dlq replay --help)\n\n"+
			"With "+config.CheckFlag+" (beside any subcommand) the notifier validates the environment and arguments and exits.")
		return 0
	}
	migrateOnly := false
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "migrate":
		migrateOnly = true
	default:
		fmt.Fprintf(stdout, "unknown arguments %q (subcommands: migrate, dlq replay; --help lists the variables)\n", args)
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
	logger := logging.New(stdout, level, "notifier")
	if migrateOnly {
		if err := notifier.Migrate(ctx, cfg, logger); err != nil {
			logger.Error("migration failed", "err", err.Error())
			return 1
		}
		logger.Info("database schema is current")
		return 0
	}
	broker, err := backend.Open(ctx, streamCfg, logger)
	if err != nil {
		logger.Error("stream backend", "err", err.Error())
		return 1
	}
	defer broker.Close()
	// Run builds the channel senders (and closes them after the workers).
	deps := notifier.Deps{Logger: logger, Broker: broker}
	if err := notifier.Run(ctx, cfg, deps); err != nil {
		logger.Error("notifier stopped", "err", err.Error())
		return 1
	}
	return 0
}

// runDLQ implements `notifier dlq replay`: it reads <topic>.dlq with its own
// consumer group and republishes each message to the topic it came from,
// without the dead-letter headers.
func runDLQ(ctx context.Context, args []string, checkOnly bool, v *config.Vars, level string, streamCfg backend.Config, cfg notifier.Config, stdout io.Writer) int {
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprintln(stdout, "usage: notifier dlq replay [-topic T] [-limit N] [-group G]")
		return 2
	}
	fs := flag.NewFlagSet("notifier dlq replay", flag.ContinueOnError)
	fs.SetOutput(stdout)
	topic := fs.String("topic", cfg.Topic, "original topic; dead letters are read from <topic>"+".dlq")
	limit := fs.Int("limit", 0, "replay at most this many messages (0 = all)")
	group := fs.String("group", cfg.Group+"-dlq-replay", "consumer group reading the dead-letter topic (replayed messages are committed there)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			v.Usage(stdout, "notifier dlq replay", "republishes dead letters to their original topic")
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stdout, "unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *limit < 0 {
		fmt.Fprintln(stdout, "-limit must not be negative")
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
	logger := logging.New(stdout, level, "notifier-dlq")
	broker, err := backend.Open(ctx, streamCfg, logger)
	if err != nil {
		logger.Error("stream backend", "err", err.Error())
		return 1
	}
	defer broker.Close()
	res, err := notifier.ReplayDLQ(ctx, broker, notifier.ReplayOptions{Topic: *topic, Group: *group, Limit: *limit}, logger)
	logger.Info("dlq replay finished", "topic", *topic, "replayed", res.Replayed, "skipped", res.Skipped, "left", res.Left)
	fmt.Fprintf(stdout, "replayed %d, skipped %d (replayed by an earlier run), left %d\n", res.Replayed, res.Skipped, res.Left)
	if err != nil {
		logger.Error("dlq replay", "err", err.Error())
		return 1
	}
	return 0
}
