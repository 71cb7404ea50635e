// Package service is the one way Herald builds a binary: the life of a
// service from its environment to its exit code.
//
// A binary's main is service.Main(cmd) with a Command that names it and
// loads its configuration; the kit does the rest the same way for every
// binary: signals (SIGINT, SIGTERM) end the context, --help lists every
// variable with its default, --check-config validates and exits, all
// problems in the environment are reported together, the JSON logger
// carries the service's name, a service with a database gets the migrate
// subcommand, and the exit code is 0 after a clean stop, a finished
// subcommand or --help, 2 for invalid configuration or arguments, and 1
// when the service fails.
//
// A service's Run uses the rest of the kit, in packages light enough for
// the service's own: db.Settings (its HERALD_DB_* settings, opened and
// migrated from the embedded migrations of ent/<service>/migrations, waited
// for at start-up), startup.EnsureTopics and startup.Stopped.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/backend"
)

// Command describes a binary.
type Command struct {
	// Name is the program's name: in --help, in messages and as the
	// logger's service attribute.
	Name string
	// Summary is what the binary is, the first line of --help.
	Summary string
	// Stream: the binary uses a stream backend. The kit declares its
	// variables (after Load's), opens the broker before Serve and closes it
	// after.
	Stream bool
	// Load declares the binary's variables (after HERALD_LOG_LEVEL, which
	// the kit declares) in the order --help lists them, records their
	// problems in v, and says what the binary does with them.
	Load func(v *config.Vars) Plan
}

// Plan is what a loaded binary can do.
type Plan struct {
	// Database, when it has migrations, gives the binary the migrate
	// subcommand.
	Database db.Settings
	// WithoutBroker serves without opening the Command's stream (users with
	// its order counter off).
	WithoutBroker bool
	// ListenErr is why the service would refuse its listen address
	// (HERALD_HTTP_ADDR), if it would: its Run refuses it as well, but
	// checked here it is reported with the other problems, and by
	// --check-config. Migrating needs no address, so only serving checks it.
	ListenErr error
	// Serve runs the service until ctx ends.
	Serve func(ctx context.Context, rt Runtime) error
	// Subcommands besides migrate, by their first argument.
	Subcommands []Subcommand
}

// Runtime is what the kit hands to Plan.Serve.
type Runtime struct {
	Logger *slog.Logger
	Broker stream.Broker // nil without Command.Stream, or WithoutBroker
}

// Subcommand is one more verb of a binary (router compose, notifier dlq).
type Subcommand struct {
	Name     string
	Synopsis string // how it is called, after the binary's name: "dlq replay [-limit N]"
	Help     string // what it does, beside Synopsis in --help
	Run      func(ctx context.Context, c Call) int
}

// Call is one invocation of a Subcommand.
type Call struct {
	Args   []string // after the subcommand's name, without --check-config
	Check  bool     // --check-config was given
	Vars   *config.Vars
	Stdout io.Writer
	Level  string         // HERALD_LOG_LEVEL
	Stream backend.Config // with Command.Stream
}

// Validated reports the configuration's problems, or that it is valid when
// only a check was asked for: when done, the subcommand returns code.
func (c Call) Validated() (code int, done bool) {
	return validated(c.Vars, c.Check, c.Stdout)
}

// Logger is the subcommand's JSON logger, named service.
func (c Call) Logger(service string) *slog.Logger { return logging.New(c.Stdout, c.Level, service) }

// Main runs cmd as the process: os.Args, os.Getenv and os.Stdout, a context
// that SIGINT or SIGTERM ends, and the exit code.
func Main(cmd Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

// Run runs the binary with the given arguments and environment, writing its
// help, problems and logs to stdout, and returns its exit code.
func (cmd Command) Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	args, checkOnly := config.WantsCheck(args)
	v := config.New(getenv)
	level := logging.LoadLevel(v)
	p := cmd.Load(v)
	var streamCfg backend.Config
	if cmd.Stream {
		streamCfg = backend.LoadConfig(v)
	}
	if len(args) > 0 {
		for _, sub := range p.Subcommands {
			if args[0] == sub.Name {
				return sub.Run(ctx, Call{Args: args[1:], Check: checkOnly, Vars: v, Stdout: stdout, Level: level, Stream: streamCfg})
			}
		}
	}
	hasDB := p.Database.HasMigrations()
	if config.WantsHelp(args) {
		v.Usage(stdout, cmd.Name, cmd.help(p))
		return 0
	}
	migrateOnly := false
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "migrate" && hasDB:
		migrateOnly = true
	default:
		fmt.Fprintf(stdout, "%s: unknown arguments %q (want %s; --help lists the variables)\n", cmd.Name, args, strings.Join(cmd.verbs(p), ", "))
		return 2
	}
	if !migrateOnly && p.ListenErr != nil {
		v.Check(false, "HERALD_HTTP_ADDR: %v", p.ListenErr)
	}
	if code, done := validated(v, checkOnly, stdout); done {
		return code
	}
	logger := logging.New(stdout, level, cmd.Name)
	if migrateOnly {
		// Needs only the database: no broker is opened.
		if err := p.Database.Migrate(ctx, logger); err != nil {
			logger.Error("migration failed", "err", err.Error())
			return 1
		}
		logger.Info("database schema is current")
		return 0
	}
	rt := Runtime{Logger: logger}
	if cmd.Stream && !p.WithoutBroker {
		broker, ok := OpenBroker(ctx, streamCfg, logger)
		if !ok {
			return 1
		}
		defer broker.Close()
		rt.Broker = broker
	}
	if err := p.Serve(ctx, rt); err != nil {
		logger.Error(cmd.Name+" stopped", "err", err.Error())
		return 1
	}
	logger.Info(cmd.Name + " stopped cleanly")
	return 0
}

// OpenBroker opens the stream backend, or logs why it cannot.
func OpenBroker(ctx context.Context, cfg backend.Config, logger *slog.Logger) (stream.Broker, bool) {
	broker, err := backend.Open(ctx, cfg, logger)
	if err != nil {
		logger.Error("stream broker unavailable", "err", err.Error())
		return nil, false
	}
	return broker, true
}

// validated prints the configuration's problems (code 2) or, for a check
// only, that it is valid (code 0); done is false when the binary goes on.
func validated(v *config.Vars, checkOnly bool, stdout io.Writer) (code int, done bool) {
	if err := v.Err(); err != nil {
		fmt.Fprintln(stdout, err)
		return 2, true
	}
	if checkOnly {
		fmt.Fprintln(stdout, "configuration is valid")
		return 0, true
	}
	return 0, false
}

// help is the text --help writes above the variables: the summary and one
// line per way to call the binary.
func (cmd Command) help(p Plan) string {
	type line struct{ call, help string }
	lines := []line{{"", "serve"}}
	check := ""
	if p.Database.HasMigrations() {
		lines = append(lines, line{"migrate", "apply pending database migrations and exit"})
		check = "[migrate] "
	}
	for _, sub := range p.Subcommands {
		lines = append(lines, line{sub.Synopsis, sub.Help})
	}
	lines = append(lines, line{check + config.CheckFlag, "validate the environment (and arguments) and exit"})
	width := 0
	for _, l := range lines {
		width = max(width, len(l.call))
	}
	var b strings.Builder
	b.WriteString(cmd.Summary + "\n")
	for i, l := range lines {
		prefix := "\nUsage: "
		if i > 0 {
			prefix = "\n       "
		}
		fmt.Fprintf(&b, "%s%s %-*s    %s", prefix, cmd.Name, width, l.call, l.help)
	}
	return b.String()
}

// verbs are the accepted first arguments, for the unknown-arguments message.
func (cmd Command) verbs(p Plan) []string {
	out := []string{"no arguments"}
	if p.Database.HasMigrations() {
		out = append(out, "migrate")
	}
	for _, sub := range p.Subcommands {
		out = append(out, sub.Name)
	}
	return append(out, "--help")
}
