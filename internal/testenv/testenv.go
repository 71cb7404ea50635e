// Package testenv gives tests real infrastructure: Apache Kafka (KRaft), PostgreSQL, NATS with
// JetStream and mailpit as an SMTP peer. It never fakes them.
//
// Each piece comes from one of two places:
//
//   - an environment variable set by whoever runs the tests (`make test` starts everything once
//     with internal/testenv/cmd/testinfra and exports HERALD_TEST_KAFKA_BROKERS,
//     HERALD_TEST_POSTGRES_DSN, HERALD_TEST_NATS_URL, HERALD_TEST_MAILPIT_SMTP,
//     HERALD_TEST_MAILPIT_API and HERALD_TEST_MAILPIT_CA), or
//   - when the variable is unset, a server this test process starts on first use (once per
//     process) and stops when the package's TestMain returns through Main.
//
// A package that uses the shared helpers (Kafka, Postgres, NATS, Mailpit) must therefore have
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// NewKafka and NewMailpit start a private server for one test instead, stopped in t.Cleanup:
// use them for tests that stop, restart, clear or break the server. NewKafkaCluster starts a
// private multi-node Kafka cluster (every node both broker and KRaft controller; see
// KafkaCluster for why) whose nodes can be killed and restarted one by one, and which names
// partition leaders, in-sync replicas and the active controller. NewNATSCluster starts a
// JetStream cluster of nats-server processes (built from the module's own nats-server version
// into <repo>/.bin), so that a kill is a real SIGKILL, and names stream leaders and replicas.
//
// Herald's own services run as processes through the same launcher (StartProc): StartStack
// starts the table of internal/stack on the built binaries (Binaries), on ports reserved for
// them (FreePorts), for e2e and bench/pipeline. GraphQLClient and the mailpit client
// (MailpitServer) are the tests' clients of the router and of mailpit.
//
// When a piece cannot be had, the test is skipped with the reason, except under CI=true, where it
// fails: CI must never pass by skipping.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Environment variables that point the helpers at infrastructure started elsewhere.
const (
	EnvKafkaBrokers = "HERALD_TEST_KAFKA_BROKERS" // comma-separated host:port list
	EnvPostgresDSN  = "HERALD_TEST_POSTGRES_DSN"  // admin DSN; each Postgres(t) creates its own database
	EnvNATSURL      = "HERALD_TEST_NATS_URL"      // nats://host:port with JetStream enabled
	EnvMailpitSMTP  = "HERALD_TEST_MAILPIT_SMTP"  // host:port, STARTTLS required
	EnvMailpitAPI   = "HERALD_TEST_MAILPIT_API"   // http://host:port (base of /api/v1)
	EnvMailpitCA    = "HERALD_TEST_MAILPIT_CA"    // PEM file of the CA that signed mailpit's certificate

	// EnvKeep=1 keeps the folders (data, logs) of servers testenv started when they stop.
	EnvKeep = "HERALD_TEST_KEEP"
)

var (
	mainCalled atomic.Bool

	stopMu sync.Mutex
	stops  []func() // shared servers this process started, stopped by Main in reverse order
)

// Main runs the package's tests and then stops every shared server this process started.
// Call it from TestMain.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// StopShared stops the shared servers started by this process. Main calls it; call it yourself
// only from a TestMain that cannot use Main.
func StopShared() {
	stopMu.Lock()
	fs := stops
	stops = nil
	stopMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func registerStop(f func()) {
	stopMu.Lock()
	stops = append(stops, f)
	stopMu.Unlock()
}

// unavailable ends a test whose infrastructure could not be had: a skip on a developer's
// machine, a failure under CI=true.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("testenv: %s unavailable (CI=true, so the test fails instead of skipping): %v", what, err)
	}
	t.Skipf("testenv: %s unavailable, skipping (under CI=true this fails): %v", what, err)
}

// shared holds one server started on first use by this test process.
type shared[T any] struct {
	once sync.Once
	val  T
	err  error
}

// get returns the process-wide server, starting it once. It insists on Main, or the server would
// outlive the tests (and leave its files behind).
func (s *shared[T]) get(t testing.TB, what, envVar string, start func(context.Context) (T, func(), error)) T {
	t.Helper()
	s.once.Do(func() {
		if !mainCalled.Load() {
			s.err = fmt.Errorf("starting a shared %s needs `func TestMain(m *testing.M) { testenv.Main(m) }` in this package (or set %s)", what, envVar)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		began := time.Now()
		v, stop, err := start(ctx)
		if err != nil {
			s.err = err
			return
		}
		startupLog(what, time.Since(began))
		s.val = v
		registerStop(stop)
	})
	if s.err != nil {
		if !mainCalled.Load() {
			t.Fatalf("testenv: %v", s.err)
		}
		unavailable(t, what, s.err)
	}
	return s.val
}

// privateCluster is a cluster started for one test by newPrivate.
type privateCluster interface {
	addrs() string  // client addresses, for the log
	folder() string // the cluster's folder, kept when the test failed
	shutdown()      // stop every process, keeping the folder
	Close() error   // stop and remove the folder
}

// newPrivate starts a cluster for one test (unavailable when it cannot), stopped and removed in
// t.Cleanup, or only stopped, its folder kept for the logs, when the test failed.
func newPrivate[C privateCluster](t testing.TB, what string, start func(context.Context) (C, error)) C {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := start(ctx)
	if err != nil {
		unavailable(t, what, err)
	}
	t.Logf("testenv: %s %s ready in %s (folders in %s)", what, c.addrs(), time.Since(began).Round(10*time.Millisecond), c.folder())
	t.Cleanup(func() {
		if t.Failed() {
			c.shutdown()
			keepDir(c.folder())
			t.Logf("testenv: %s folders (logs) kept in %s", what, c.folder())
			return
		}
		_ = c.Close()
	})
	return c
}

// startupLog notes on stderr how long a shared server took, visible with `go test -v` and in CI.
func startupLog(what string, d time.Duration) {
	fmt.Fprintf(os.Stderr, "testenv: %s ready in %s\n", what, d.Round(10*time.Millisecond))
}

// baseDir is the parent of every folder testenv makes; servers' logs live below it.
func baseDir() (string, error) {
	dir := filepath.Join(os.TempDir(), "herald-testenv")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// 0755 even under a restrictive umask: the postgres user must reach its cluster below it.
	_ = os.Chmod(dir, 0o755)
	return dir, nil
}

// removeDir deletes a server's folder, unless HERALD_TEST_KEEP=1 asks to keep it.
func removeDir(dir string) error {
	if dir == "" {
		return nil
	}
	if os.Getenv(EnvKeep) == "1" {
		keepDir(dir)
		fmt.Fprintf(os.Stderr, "testenv: kept %s\n", dir)
		return nil
	}
	return os.RemoveAll(dir)
}

// newDir makes a fresh folder below baseDir, e.g. kafka-1234.
func newDir(prefix string) (string, error) {
	base, err := baseDir()
	if err != nil {
		return "", err
	}
	sweepOrphans(base)
	dir, err := os.MkdirTemp(base, prefix+"-*")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// keepDir exempts a folder from the orphan sweep, so logs of a failure outlive the process.
func keepDir(dir string) {
	_ = os.Remove(filepath.Join(dir, ownerFile))
}

// ownerFile in a server's folder names the process that made it.
const ownerFile = "testenv-owner.pid"

var sweepOnce sync.Once

// sweepOrphans removes folders left by test processes that were killed before their cleanup ran
// (Pdeathsig already ended their servers). Folders without an owner file (kept ones) stay.
func sweepOrphans(base string) {
	sweepOnce.Do(func() {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(base, e.Name())
			b, err := os.ReadFile(filepath.Join(dir, ownerFile))
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 {
				continue
			}
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				_ = os.RemoveAll(dir)
			}
		}
	})
}

// repoRoot walks up from the working directory (a package folder under `go test`) to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// StreamEnv is the HERALD_STREAM setting of a service on the shared broker of kind "kafka"
// (Kafka) or "nats" (NATS), with its address.
func StreamEnv(t testing.TB, kind string) map[string]string {
	t.Helper()
	switch kind {
	case "kafka":
		return map[string]string{"HERALD_STREAM": kind, "HERALD_KAFKA_BROKERS": strings.Join(Kafka(t).Brokers, ",")}
	case "nats":
		return map[string]string{"HERALD_STREAM": kind, "HERALD_NATS_URL": NATS(t)}
	}
	t.Fatalf("testenv: no stream backend %q", kind)
	return nil
}
