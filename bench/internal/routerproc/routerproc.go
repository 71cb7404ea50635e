// Package routerproc builds, composes for and runs the real router binary
// (cmd/router) as a child process, for the benchmark harnesses in bench/.
package routerproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/router/auth"
)

// Build compiles ./cmd/router into dir and returns the binary's path.
func Build(ctx context.Context, dir string, logw io.Writer) (string, error) {
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

// Compose writes each subgraph's SDL (name → SDL) to dir and runs
// `router compose` on it, as a deployment does at build time. subgraphs is
// the HERALD_SUBGRAPHS value (name=url pairs; notifications=builtin needs
// no SDL here). It returns the composed file's path.
func Compose(ctx context.Context, bin, dir, subgraphs string, sdl map[string]string) (string, error) {
	schemaDir := filepath.Join(dir, "schema")
	if err := os.MkdirAll(schemaDir, 0o755); err != nil {
		return "", err
	}
	for name, text := range sdl {
		if err := os.WriteFile(filepath.Join(schemaDir, name+".graphqls"), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, "supergraph.json")
	cmd := exec.CommandContext(ctx, bin, "compose", "-subgraphs", subgraphs, "-schema-dir", schemaDir, "-out", out)
	cmd.Env = BaseEnv()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("router compose: %w: %s", err, msg)
	}
	return out, nil
}

// BaseEnv is the environment of child processes: the parent's, less any
// HERALD_ variable, so a developer's settings cannot change the benchmark.
func BaseEnv() []string { return testenv.Environ(nil) }

// SigningKey makes (or reads) a signing key in dir and writes its public
// half beside it, for HERALD_AUTH_PUBLIC_KEY_FILE.
func SigningKey(dir string) (*auth.Signer, string, error) {
	s, err := auth.LoadOrCreateSigner(filepath.Join(dir, "signing-key.pem"))
	if err != nil {
		return nil, "", err
	}
	pub, err := s.PublicKeyPEM()
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "signing-key.pub.pem")
	if err := os.WriteFile(path, pub, 0o644); err != nil {
		return nil, "", err
	}
	return s, path, nil
}

// Options configure one router process.
type Options struct {
	// Subgraphs is HERALD_SUBGRAPHS.
	Subgraphs string
	// Supergraph, when set, is HERALD_ROUTER_CONFIG (a composed file);
	// empty makes the router compose at start-up.
	Supergraph string
	// Env holds more KEY=value settings (stream backend, topics, limits).
	Env []string
}

// Proc is a running router binary.
type Proc struct {
	*testenv.Proc
	// Signer mints tokens the router accepts (its HERALD_AUTH_PUBLIC_KEY_FILE
	// is this key's public half).
	Signer *auth.Signer
	// Base is http://127.0.0.1:port; URL is its GraphQL endpoint.
	Base, URL string
}

// Start runs bin on a reserved loopback port and waits until /healthz
// answers 200 (the supergraph is loaded; with a stream configured, the
// stream is reachable). The child inherits this process's resource limits.
func Start(ctx context.Context, bin, logPath string, o Options) (*Proc, error) {
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	signer, pubPath, err := SigningKey(filepath.Dir(logPath))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(BaseEnv(),
		"HERALD_HTTP_ADDR="+addr,
		"HERALD_SUBGRAPHS="+o.Subgraphs,
		"HERALD_LOG_LEVEL=warn",
		"HERALD_AUTH_PUBLIC_KEY_FILE="+pubPath,
		// One load generator is one caller: the benchmark measures the
		// router, not its rate limit.
		"HERALD_ROUTER_RATE_LIMIT=0",
	)
	if o.Supergraph != "" {
		cmd.Env = append(cmd.Env, "HERALD_ROUTER_CONFIG="+o.Supergraph)
	}
	cmd.Env = append(cmd.Env, o.Env...)
	tp, err := testenv.StartProc("router", cmd, logPath, nil)
	if err != nil {
		return nil, err
	}
	p := &Proc{Proc: tp, Signer: signer, Base: "http://" + addr, URL: "http://" + addr + "/graphql"}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := p.WaitHTTP(wctx, p.Base+"/healthz", testenv.StatusOK); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("router not ready: %w", err)
	}
	return p, nil
}

// LogText is the router's output so far, for error messages.
func (p *Proc) LogText() string {
	data, _ := os.ReadFile(p.LogPath)
	return string(data)
}

// Stop sends SIGTERM, waits up to 15s for the drain, then kills.
func (p *Proc) Stop() error {
	if !p.Signal(syscall.SIGTERM, 15*time.Second) {
		return errors.New("router did not stop within 15s of SIGTERM: killed")
	}
	return p.Err()
}
