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

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/notifier"
)

func main() { service.Main(cmd) }

var cmd = service.Command{
	Name:    "notifier",
	Summary: "consumes OrderCreated and delivers Herald's notifications",
	Stream:  true,
	Load: func(v *config.Vars) service.Plan {
		cfg := notifier.LoadConfig(v) // with the channels' variables (cfg.Channels)
		return service.Plan{
			Database: cfg.DB,
			// Run builds the channel senders (and closes them after the workers).
			Serve: func(ctx context.Context, rt service.Runtime) error {
				return notifier.Run(ctx, cfg, notifier.Deps{Logger: rt.Logger, Broker: rt.Broker})
			},
			Subcommands: []service.Subcommand{{
				Name:     "dlq",
				Synopsis: "dlq replay [-topic T] [-limit N] [-group G]",
				Help:     "republish the dead letters present at its start (see: notifier dlq replay --help)",
				Run: func(ctx context.Context, c service.Call) int {
					return replayDLQ(ctx, c, cfg)
				},
			}},
		}
	},
}

// replayDLQ implements `notifier dlq replay`: it reads <topic>.dlq with its
// own consumer group and republishes each message to the topic it came
// from, without the dead-letter headers.
func replayDLQ(ctx context.Context, c service.Call, cfg notifier.Config) int {
	if len(c.Args) == 0 || c.Args[0] != "replay" {
		fmt.Fprintln(c.Stdout, "usage: notifier dlq replay [-topic T] [-limit N] [-group G]")
		return 2
	}
	fs := flag.NewFlagSet("notifier dlq replay", flag.ContinueOnError)
	fs.SetOutput(c.Stdout)
	topic := fs.String("topic", cfg.Topic, "original topic; dead letters are read from <topic>"+".dlq")
	limit := fs.Int("limit", 0, "replay at most this many messages (0 = all)")
	group := fs.String("group", cfg.Group+"-dlq-replay", "consumer group reading the dead-letter topic (replayed messages are committed there)")
	if err := fs.Parse(c.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.Vars.Usage(c.Stdout, "notifier dlq replay", "republishes dead letters to their original topic")
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.Stdout, "unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *limit < 0 {
		fmt.Fprintln(c.Stdout, "-limit must not be negative")
		return 2
	}
	if code, done := c.Validated(); done {
		return code
	}
	logger := c.Logger("notifier-dlq")
	broker, ok := service.OpenBroker(ctx, c.Stream, logger)
	if !ok {
		return 1
	}
	defer broker.Close()
	res, err := notifier.ReplayDLQ(ctx, broker, notifier.ReplayOptions{Topic: *topic, Group: *group, Limit: *limit}, logger)
	logger.Info("dlq replay finished", "topic", *topic, "replayed", res.Replayed, "skipped", res.Skipped, "left", res.Left)
	fmt.Fprintf(c.Stdout, "replayed %d, skipped %d (replayed by an earlier run), left %d\n", res.Replayed, res.Skipped, res.Left)
	if err != nil {
		logger.Error("dlq replay", "err", err.Error())
		return 1
	}
	return 0
}
