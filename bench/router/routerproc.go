package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/bench/router/subgraphs"
	"github.com/heraldhq/herald/internal/testenv"
)

// buildRouter compiles ./cmd/router into dir.
func buildRouter(ctx context.Context, dir string, logw io.Writer) (string, error) {
	bin := filepath.Join(dir, "router")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/heraldhq/herald/cmd/router")
	cmd.Stdout, cmd.Stderr = logw, logw
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/router: %w", err)
	}
	fmt.Fprintf(logw, "built router in %s\n", time.Since(start).Round(time.Millisecond))
	return bin, nil
}

// composeSupergraph writes each subgraph's _service SDL to dir and runs
// `router compose` on it, as a deployment does at build time. It returns the
// composed file's path.
func composeSupergraph(ctx context.Context, bin, dir string, set *subgraphs.Set) (string, error) {
	schemaDir := filepath.Join(dir, "schema")
	if err := os.MkdirAll(schemaDir, 0o755); err != nil {
		return "", err
	}
	for _, name := range subgraphs.Names {
		sdl, err := fetchSDL(ctx, set.URLs[name])
		if err != nil {
			return "", fmt.Errorf("SDL of %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(schemaDir, name+".graphqls"), []byte(sdl), 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, "supergraph.json")
	cmd := exec.CommandContext(ctx, bin, "compose", "-subgraphs", set.RouterEnv(), "-schema-dir", schemaDir, "-out", out)
	cmd.Env = baseEnv()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("router compose: %w: %s", err, msg)
	}
	return out, nil
}

func fetchSDL(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"query":"{ _service { sdl } }"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Service struct {
				SDL string `json:"sdl"`
			} `json:"_service"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if out.Data.Service.SDL == "" {
		return "", errors.New("empty SDL")
	}
	return out.Data.Service.SDL, nil
}

// baseEnv is the environment of child processes: the parent's, less any
// HERALD_ variable, so a developer's settings cannot change the benchmark.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

// routerProc is a running router binary.
type routerProc struct {
	cmd  *exec.Cmd
	url  string // GraphQL endpoint
	logs string // file holding its stdout and stderr
	done chan error
}

// startRouter runs bin on a free loopback port against set and waits until
// /healthz answers 200 (the supergraph is loaded).
func startRouter(ctx context.Context, bin, logPath string, set *subgraphs.Set, supergraph string) (*routerProc, error) {
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(bin)
	cmd.Env = append(baseEnv(),
		"HERALD_HTTP_ADDR="+addr,
		"HERALD_SUBGRAPHS="+set.RouterEnv(),
		"HERALD_LOG_LEVEL=warn",
		// The deep query nests four lists without first (reviews), so its
		// worst-case estimate is about 5 million values against the
		// default cost limit of 50,000; its real answer is 22 kB. The
		// benchmark measures execution, not the cost limit.
		"HERALD_ROUTER_MAX_COST=10000000",
	)
	if supergraph != "" {
		cmd.Env = append(cmd.Env, "HERALD_ROUTER_CONFIG="+supergraph)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	p := &routerProc{cmd: cmd, url: "http://" + addr + "/graphql", logs: logPath, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	go func() { p.done <- cmd.Wait() }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("router exited before ready (%v); logs:\n%s", err, p.logText())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("router not ready within 90s; logs:\n%s", p.logText())
		}
	}
}

// logText is the router's output so far, for error messages.
func (p *routerProc) logText() string {
	data, _ := os.ReadFile(p.logs)
	return string(data)
}

func (p *routerProc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 15s for the drain, then kills.
func (p *routerProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("router did not stop within 15s of SIGTERM: killed")
	}
}
