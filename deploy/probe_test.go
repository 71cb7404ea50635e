package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// checkProbePaths runs the container's binary with its environment, moved
// onto this machine (loopback listener, SQLite, embedded NATS, other
// services' addresses on a closed loopback port), and checks that every
// HTTP probe path is one the binary serves. A served path answers 2xx, or
// 503 from a health handler naming its failing check (the notifier's
// /readyz waits for a users service that is not there); a path it does not
// serve answers 404, or 401 behind the subgraph secret, which only lets
// /healthz through. While the service starts, other paths answer a generic
// 503, so the check waits for one of those answers.
func checkProbePaths(t *testing.T, c container) {
	t.Helper()
	var paths []probe
	for _, p := range c.Probes {
		if p.Path != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return
	}
	env, base := localEnv(t, c)
	stop := startBinary(t, c.Binary, env)
	defer stop()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for _, p := range paths {
		status, body, err := waitServed(ctx, base+p.Path)
		switch {
		case err != nil:
			t.Errorf("%s: %v (last answer %d %s)", p, err, status, body)
		case status == http.StatusServiceUnavailable && !strings.Contains(body, `"status":"unavailable"`):
			t.Errorf("%s: answered %d %s", p, status, body)
		case status >= 400 && status != http.StatusServiceUnavailable:
			t.Errorf("%s: %s does not serve %s: answered %d %s", p, c.Binary, p.Path, status, body)
		}
	}
}

// waitServed polls u until its answer says whether the path is served:
// anything but the start-up 503.
func waitServed(ctx context.Context, u string) (int, string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	status, body := 0, ""
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, "", err
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			status, body = resp.StatusCode, strings.TrimSpace(string(b))
			if status != http.StatusServiceUnavailable || strings.Contains(body, `"status":"unavailable"`) {
				return status, body, nil
			}
		}
		select {
		case <-ctx.Done():
			return status, body, fmt.Errorf("no answer from a started service: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// localEnv is c's environment with every endpoint on this machine, and the
// base URL the binary then serves on.
func localEnv(t *testing.T, c container) (map[string]string, string) {
	t.Helper()
	ports := testenv.Ports(t, 2)
	dir := t.TempDir()
	vars := declared(t, c.Binary)
	env := map[string]string{}
	for k, v := range c.Env {
		env[k] = v
	}
	set := func(name, value string) {
		if _, ok := vars[name]; ok {
			env[name] = value
		}
	}
	const closed = "127.0.0.1:1" // nothing listens on port 1
	set("HERALD_HTTP_ADDR", "127.0.0.1:"+strconv.Itoa(ports[0]))
	set("HERALD_DB_DRIVER", "sqlite")
	set("HERALD_DB_DSN", filepath.Join(dir, "db.sqlite"))
	set("HERALD_DB_MIGRATE", "auto")
	set("HERALD_STREAM", "nats")
	set("HERALD_NATS_URL", "nats://127.0.0.1:"+strconv.Itoa(ports[1]))
	set("HERALD_NATS_EMBEDDED_DIR", filepath.Join(dir, "nats"))
	delete(env, "HERALD_KAFKA_BROKERS")
	if _, ok := env["HERALD_USERS_URL"]; ok {
		set("HERALD_USERS_URL", "http://"+closed+"/graphql")
	}
	if _, ok := env["HERALD_SMTP_ADDR"]; ok {
		set("HERALD_SMTP_ADDR", closed)
	}
	if subgraphs, ok := env["HERALD_SUBGRAPHS"]; ok {
		// Keep the names, move each URL to the closed port.
		var out []string
		for _, sg := range strings.Split(subgraphs, ",") {
			name, raw, _ := strings.Cut(sg, "=")
			if u, err := url.Parse(raw); err == nil && u.Host != "" {
				u.Host = closed
				raw = u.String()
			}
			out = append(out, name+"="+raw)
		}
		env["HERALD_SUBGRAPHS"] = strings.Join(out, ",")
	}
	if _, ok := env["HERALD_ROUTER_CONFIG"]; ok {
		// The file mounted in the container is the committed composition.
		abs, err := filepath.Abs("../schema/supergraph.json")
		if err != nil {
			t.Fatal(err)
		}
		env["HERALD_ROUTER_CONFIG"] = abs
	}
	return env, "http://" + env["HERALD_HTTP_ADDR"]
}

// startBinary starts a built binary with exactly env, its output in a log
// file shown when the test fails, and returns a function that stops it
// (SIGTERM, then waits).
func startBinary(t *testing.T, binary string, env map[string]string) func() {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), binary+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binaries(t), binary))
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The kernel kills it if the test process dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log:\n%s", binary, b)
			}
		}
	}
}
