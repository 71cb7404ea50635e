// Command notifier consumes OrderCreated events and sends the notifications
// they imply. Configuration comes from environment variables; run with
// --help to list them.
//
// Subcommands:
//
//	notifier                       run the service
//	notifier dlq replay [flags]    republish dead letters to their topic
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/notifier"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
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
	v := config.New(getenv)
	level := v.Enum("HERALD_LOG_LEVEL", "info", "log level", "debug", "info", "warn", "error")
	streamCfg := backend.LoadConfig(v)
	cfg := notifier.LoadConfig(v)
	ch := channelConfig{Email: email.LoadConfig(v), SMS: sms.LoadConfig(v), Webhook: webhook.LoadConfig(v)}

	if len(args) >= 1 && args[0] == "dlq" {
		return runDLQ(ctx, args[1:], v, level, streamCfg, cfg, stdout)
	}
	if config.WantsHelp(args) {
		v.Usage(stdout, "notifier", "consumes OrderCreated and delivers Herald's notifications\n\n"+
			"Subcommands:\n  dlq replay [-topic T] [-limit N] [-idle D] [-group G]   republish dead letters (see: notifier dlq replay --help)")
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stdout, "unknown arguments %q (subcommands: dlq replay; --help lists the variables)\n", args)
		return 2
	}
	if err := v.Err(); err != nil {
		fmt.Fprintln(stdout, err)
		return 2
	}
	logger := logging.New(stdout, level, "notifier")
	broker, err := backend.Open(ctx, streamCfg, logger)
	if err != nil {
		logger.Error("stream backend", "err", err.Error())
		return 1
	}
	defer broker.Close()
	senders, err := ch.senders(logger)
	if err != nil {
		logger.Error("channels", "err", err.Error())
		return 1
	}
	deps := notifier.Deps{Logger: logger, Broker: broker, Senders: senders, Render: renderLocalized}
	if err := notifier.Run(ctx, cfg, deps); err != nil {
		logger.Error("notifier stopped", "err", err.Error())
		return 1
	}
	return 0
}

// runDLQ implements `notifier dlq replay`: it reads <topic>.dlq with its own
// consumer group and republishes each message to the topic it came from,
// without the dead-letter headers.
func runDLQ(ctx context.Context, args []string, v *config.Vars, level string, streamCfg backend.Config, cfg notifier.Config, stdout io.Writer) int {
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprintln(stdout, "usage: notifier dlq replay [-topic T] [-limit N] [-idle D] [-group G]")
		return 2
	}
	fs := flag.NewFlagSet("notifier dlq replay", flag.ContinueOnError)
	fs.SetOutput(stdout)
	topic := fs.String("topic", cfg.Topic, "original topic; dead letters are read from <topic>"+".dlq")
	limit := fs.Int("limit", 0, "replay at most this many messages (0 = all)")
	idle := fs.Duration("idle", 10*time.Second, "stop when no dead letter arrived for this long")
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
	logger := logging.New(stdout, level, "notifier-dlq")
	broker, err := backend.Open(ctx, streamCfg, logger)
	if err != nil {
		logger.Error("stream backend", "err", err.Error())
		return 1
	}
	defer broker.Close()
	n, err := notifier.ReplayDLQ(ctx, broker, notifier.ReplayOptions{Topic: *topic, Group: *group, Limit: *limit, Idle: *idle}, logger)
	logger.Info("dlq replay finished", "replayed", n, "topic", *topic)
	if err != nil {
		logger.Error("dlq replay", "err", err.Error())
		return 1
	}
	return 0
}

// channelConfig holds the channels' own configurations.
type channelConfig struct {
	Email   email.Config
	SMS     sms.Config
	Webhook webhook.Config
}

// senders builds one sender per configured channel. SMS is off until a
// provider is configured (HERALD_SMS_BASE_URL); the gate then records SMS
// deliveries as SKIPPED ("channel not configured").
func (c channelConfig) senders(logger *slog.Logger) (map[string]channel.Sender, error) {
	out := map[string]channel.Sender{}
	e, err := email.New(c.Email, logger.With("channel", channel.Email))
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	out[channel.Email] = e
	if c.SMS.Enabled() {
		s, err := sms.New(c.SMS, nil, logger.With("channel", channel.SMS))
		if err != nil {
			return nil, fmt.Errorf("sms: %w", err)
		}
		out[channel.SMS] = s
	}
	w, err := webhook.New(c.Webhook, logger.With("channel", channel.Webhook))
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	out[channel.Webhook] = w
	return out, nil
}

// renderLocalized renders emails with the email channel's per-locale
// templates at consume time, so the row holds exactly what is sent.
func renderLocalized(order events.OrderCreated, name, locale string) (notifier.Email, error) {
	c, err := email.RenderOrderConfirmation(locale, order, name)
	if err != nil {
		return notifier.Email{}, err
	}
	return notifier.Email{Subject: c.Subject, Text: c.Text, HTML: c.HTML}, nil
}
