// Command testinfra starts the real infrastructure that Herald's tests share (Kafka, PostgreSQL,
// NATS with JetStream, mailpit) once, so test packages do not each start their own.
//
//	testinfra up  [-env-file FILE] [-only kafka,postgres,nats,mailpit]
//	    starts everything, prints `export HERALD_TEST_...=...` lines (and writes them to FILE once
//	    all are ready), then runs until SIGINT/SIGTERM and stops and removes everything.
//	testinfra run [-only ...] -- COMMAND [ARGS...]
//	    starts everything, runs COMMAND with the variables set, stops everything, and exits with
//	    COMMAND's status. `make test` uses this.
//	testinfra mailpit-path
//	    builds the pinned mailpit into <repo>/.bin if needed and prints its path.
//
// A piece that fails to start is an error under CI=true; elsewhere it is left out (its variable
// is not set), and tests start it themselves or skip.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  testinfra up  [-env-file FILE] [-only kafka,postgres,nats,mailpit] [-keep]
  testinfra run [-only kafka,postgres,nats,mailpit] [-keep] -- COMMAND [ARGS...]
  testinfra mailpit-path

Starts Kafka, PostgreSQL, NATS (JetStream) and mailpit on free loopback ports and exports
` + "HERALD_TEST_KAFKA_BROKERS, HERALD_TEST_POSTGRES_DSN, HERALD_TEST_NATS_URL,\nHERALD_TEST_MAILPIT_SMTP, HERALD_TEST_MAILPIT_API and HERALD_TEST_MAILPIT_CA.\n"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	mode := args[0]
	if mode == "mailpit-path" {
		bin, err := testenv.MailpitBinary(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "testinfra: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, bin)
		return 0
	}
	fs := flag.NewFlagSet("testinfra "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "also write the export lines to this file once everything is ready (up)")
	only := fs.String("only", "kafka,postgres,nats,mailpit", "pieces to start, comma-separated")
	keep := fs.Bool("keep", false, "keep the servers' folders (logs, data) after stopping")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if mode != "up" && mode != "run" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if mode == "run" && fs.NArg() == 0 {
		fmt.Fprintln(stderr, "testinfra run: missing COMMAND after --")
		return 2
	}
	strict := getenv("CI") == "true"
	if *keep {
		os.Setenv(testenv.EnvKeep, "1") // read by the servers' Close
	}

	inf, err := start(ctx, strings.Split(*only, ","), stderr)
	defer inf.stop()
	if err != nil {
		fmt.Fprintf(stderr, "testinfra: %v\n", err)
		if strict || ctx.Err() != nil {
			return 1
		}
		fmt.Fprintln(stderr, "testinfra: continuing without it (tests start it themselves or skip; under CI=true this fails)")
	}

	switch mode {
	case "up":
		lines := inf.exportLines()
		fmt.Fprint(stdout, lines)
		if *envFile != "" {
			if err := writeAtomic(*envFile, lines); err != nil {
				fmt.Fprintf(stderr, "testinfra: %v\n", err)
				return 1
			}
		}
		fmt.Fprintln(stderr, "testinfra: ready; stop with SIGINT or SIGTERM")
		<-ctx.Done()
		if *envFile != "" {
			os.Remove(*envFile)
		}
		return 0
	default: // run
		cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
		cmd.Env = append(os.Environ(), inf.environ()...)
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(stderr, "testinfra: %v\n", err)
			return 1
		}
		// The command shares our process group, so a terminal's Ctrl-C reaches it directly;
		// a SIGTERM sent to us alone is passed on.
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				_ = cmd.Process.Signal(syscall.SIGTERM)
			case <-done:
			}
		}()
		err := cmd.Wait()
		close(done)
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit) && exit.ExitCode() >= 0:
			return exit.ExitCode()
		default:
			fmt.Fprintf(stderr, "testinfra: %v\n", err)
			return 1
		}
	}
}

// infra is what was started: the variables to export and how to stop each piece.
type infra struct {
	mu    sync.Mutex
	env   map[string]string
	stops []func()
}

func (inf *infra) add(env map[string]string, stop func()) {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	for k, v := range env {
		inf.env[k] = v
	}
	inf.stops = append(inf.stops, stop)
}

// start launches the pieces in parallel (Kafka's JVM dominates; the rest overlaps it).
func start(ctx context.Context, pieces []string, log io.Writer) (*infra, error) {
	inf := &infra{env: map[string]string{}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	began := time.Now()
	for _, name := range pieces {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if testenv.PieceVar(name) == "" {
			return inf, fmt.Errorf("unknown piece %q (want kafka, postgres, nats, mailpit)", name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			env, stop, dir, err := testenv.StartPiece(ctx, name)
			if err != nil {
				errMu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				errMu.Unlock()
				return
			}
			fmt.Fprintf(log, "testinfra: %s ready in %s (%s)\n", name, time.Since(t0).Round(10*time.Millisecond), dir)
			inf.add(env, func() { stopDir(dir, stop, log) })
		}()
	}
	wg.Wait()
	fmt.Fprintf(log, "testinfra: started in %s\n", time.Since(began).Round(10*time.Millisecond))
	return inf, errors.Join(errs...)
}

func stopDir(dir string, closeFn func() error, log io.Writer) {
	if err := closeFn(); err != nil {
		fmt.Fprintf(log, "testinfra: stop %s: %v\n", dir, err)
	}
}

func (inf *infra) stop() {
	inf.mu.Lock()
	stops := inf.stops
	inf.stops = nil
	inf.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range stops {
		wg.Add(1)
		go func() { defer wg.Done(); s() }()
	}
	wg.Wait()
}

func (inf *infra) environ() []string {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	out := make([]string, 0, len(inf.env))
	for k, v := range inf.env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// exportLines renders `export K='V'` lines that a POSIX shell can source.
func (inf *infra) exportLines() string {
	var b strings.Builder
	for _, kv := range inf.environ() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(v, "'", `'\''`))
	}
	return b.String()
}

func writeAtomic(path, content string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
