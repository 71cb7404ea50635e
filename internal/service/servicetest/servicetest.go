// Package servicetest runs a binary's run function in tests: table cases
// of arguments and environment against exit code and output, and the
// golden file of its --help.
package servicetest

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
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
