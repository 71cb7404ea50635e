// Package servicetest runs a binary's run function in tests: table cases
// of arguments and environment against exit code and output, and the
// golden file of its --help.
package servicetest

import (
	"bytes"
	"context"
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/help.golden from the binary's --help")

// RunFunc is a binary's entry point: service.Command.Run, or a main's run.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int

// Env is a getenv over m.
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Case is one run of a binary.
type Case struct {
	Name string
	Args []string
	Env  map[string]string
	Code int      // the exit code wanted
	Out  []string // what the output must contain
	// Until, when set, is output that ends the run: the binary serves
	// until it writes it (readiness from its log instead of a sleep), then
	// its context is cancelled and it must stop.
	Until string
}

// Run runs each case as a subtest.
func Run(t *testing.T, run RunFunc, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := &Output{}
			if tc.Until != "" {
				out.Until(tc.Until, cancel)
			}
			if code := run(ctx, tc.Args, Env(tc.Env), out); code != tc.Code {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.Code, out.String())
			}
			for _, want := range tc.Out {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// AllProblems is the case of an environment with a bad value in each of
// bad's variables and in HERALD_LOG_LEVEL, which every binary declares:
// the binary exits 2 having named every one of them, not only the first.
func AllProblems(bad map[string]string) Case {
	env := map[string]string{"HERALD_LOG_LEVEL": "loud"}
	maps.Copy(env, bad)
	return Case{Name: "all problems reported together", Env: env, Code: 2, Out: slices.Sorted(maps.Keys(env))}
}

// Serving is the environment a binary serves with in a test: a free
// loopback port, and an embedded NATS server of its own (in a temporary
// folder) as its stream.
func Serving(t *testing.T) map[string]string {
	return map[string]string{
		"HERALD_HTTP_ADDR": "127.0.0.1:0",
		"HERALD_STREAM":    "nats", "HERALD_NATS_URL": "nats://127.0.0.1:0", "HERALD_NATS_EMBEDDED_DIR": t.TempDir(),
	}
}

// DatabaseCases are what every binary of a service with a database does
// with its database settings and migrate subcommand, without opening a
// database.
func DatabaseCases(name string) []Case {
	return []Case{
		{Name: "postgres needs a DSN", Env: map[string]string{"HERALD_DB_DRIVER": "postgres"}, Code: 2, Out: []string{"HERALD_DB_DSN: must be a PostgreSQL DSN"}},
		{Name: "unknown migrate mode", Env: map[string]string{"HERALD_DB_MIGRATE": "sometimes"}, Code: 2, Out: []string{"HERALD_DB_MIGRATE"}},
		{Name: "migrate --check-config opens no database", Args: []string{"migrate", "--check-config"},
			Env: map[string]string{"HERALD_DB_DRIVER": "postgres", "HERALD_DB_DSN": "postgres://herald@127.0.0.1:1/" + name}, Out: []string{"configuration is valid"}},
		{Name: "migrate takes no arguments", Args: []string{"migrate", "down"}, Code: 2, Out: []string{name + ": unknown arguments"}},
	}
}

// SubgraphCases are what a subgraph's binary does with a public listen
// address (addr, such as ":4001"): refused without the subgraph secret,
// reported with the other problems by --check-config, accepted with it.
func SubgraphCases(addr string) []Case {
	return []Case{
		{Name: "--check-config accepts a valid environment", Args: []string{"--check-config"},
			Env: map[string]string{"HERALD_HTTP_ADDR": addr, "HERALD_SUBGRAPH_SECRET": "a-secret-of-16-chars-or-more"}, Out: []string{"configuration is valid"}},
		{Name: "--check-config reports every problem", Args: []string{"--check-config"},
			Env: map[string]string{"HERALD_HTTP_ADDR": addr, "HERALD_DB_DRIVER": "postgres"}, Code: 2,
			Out: []string{"HERALD_DB_DSN", "HERALD_HTTP_ADDR", "without HERALD_SUBGRAPH_SECRET"}},
	}
}

// Lifecycle is a service's database life, on an SQLite file: with
// HERALD_DB_MIGRATE=off an empty database is refused; the migrate
// subcommand applies the migrations and exits; then the service, with
// migrations still off, serves (with the variables serve adds) until it
// writes until, and stops cleanly, having written out too.
func Lifecycle(t *testing.T, name string, serve map[string]string, until string, out ...string) []Case {
	dir := t.TempDir()
	env := func(dsn string, more map[string]string) map[string]string {
		m := map[string]string{"HERALD_DB_MIGRATE": "off", "HERALD_DB_DSN": filepath.Join(dir, dsn)}
		maps.Copy(m, more)
		return m
	}
	return []Case{
		{Name: "with migrations off an empty database is refused", Env: env("empty.db", serve), Code: 1,
			Out: []string{`"msg":"` + name + ` stopped"`, "version 0, the code needs", "run the migrate subcommand"}},
		{Name: "migrate applies the migrations and exits", Args: []string{"migrate"}, Env: env(name+".db", nil),
			Out: []string{`"msg":"database migrated"`, `"applied_versions":[1`, `"msg":"database schema is current"`}},
		{Name: "serves over the migrated database until stopped", Env: env(name+".db", serve), Until: until,
			Out: append([]string{until, `"service":"` + name + `"`, `"msg":"` + name + ` stopped cleanly"`}, out...)},
	}
}

// Output collects what a binary writes. It is written by the service's
// goroutines and read by the test, hence the mutex.
type Output struct {
	mu     sync.Mutex
	b      strings.Builder
	until  string
	cancel context.CancelFunc
}

// Until makes the output call cancel once it contains s.
func (o *Output) Until(s string, cancel context.CancelFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.until, o.cancel = s, cancel
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	if o.cancel != nil && strings.Contains(o.b.String(), o.until) {
		o.cancel()
	}
	return n, err
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Help compares the binary's --help, run over an empty environment, with
// testdata/help.golden, so that a changed variable, default or help text
// shows in review; go test -update rewrites the file.
func Help(t *testing.T, run RunFunc) {
	t.Helper()
	var out bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, Env(nil), &out); code != 0 {
		t.Fatalf("--help exit code %d; output:\n%s", code, out.String())
	}
	path := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("--help differs from %s (go test -update rewrites it after a deliberate change):\n%s", path, lineDiff(string(want), out.String()))
	}
}

// lineDiff lists the lines only one of the texts has, in order: enough to
// see what changed in a help text.
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for l := range strings.SplitSeq(s, "\n") {
			m[l] = true
		}
		return m
	}
	wantSet, gotSet := in(want), in(got)
	var b strings.Builder
	for l := range strings.SplitSeq(want, "\n") {
		if !gotSet[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for l := range strings.SplitSeq(got, "\n") {
		if !wantSet[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 {
		return "(the same lines in another order)"
	}
	return b.String()
}
