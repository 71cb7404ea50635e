// Package benchcmd is what the benchmark commands' mains share: a run that
// SIGINT and SIGTERM cancel, flag parsing where -h is not a failure, and the
// report printed and also written to the -out file.
package benchcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run is a command's body; it returns the process's exit code. Mains keep
// it a plain function so that their tests call it with their own arguments,
// environment and writers.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int

// Main runs run with the process's arguments, environment and standard
// streams under a context that SIGINT and SIGTERM cancel (so a benchmark
// stops what it started), and exits with its code.
func Main(run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Parse parses args with fs (which prints usage and errors to its output).
// When the command should stop there, exit is true and code its exit code:
// 0 after -h or -help, 2 for a bad flag.
func Parse(fs *flag.FlagSet, args []string) (code int, exit bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case err == flag.ErrHelp:
		return 0, true
	default:
		return 2, true
	}
}

// Report prints report to stdout and, when out is not empty, writes it to
// the file out as well.
func Report(stdout io.Writer, report, out string) error {
	fmt.Fprint(stdout, report)
	if out == "" {
		return nil
	}
	return os.WriteFile(out, []byte(report), 0o644)
}
