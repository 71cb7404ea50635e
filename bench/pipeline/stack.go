package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/bench/internal/routerproc"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/testenv"
)

// services in start order: each one's dependencies come before it.
var services = []string{"users", "orders", "notifier", "router"}

// buildBinaries compiles the four services into dir, as they ship.
func buildBinaries(ctx context.Context, dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, s := range services {
		args = append(args, "./cmd/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// stackConfig says how to wire the services.
type stackConfig struct {
	BinDir, LogDir string
	RunID          string
	Stream         string // kafka | nats
	Inf            *infra
	DSN            map[string]string
	// Extra is service → variable → value, applied last ("*" for all).
	Extra map[string]map[string]string
}

type service struct {
	Name    string
	URL     string // http://127.0.0.1:port
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

type stack struct {
	Services          map[string]*service
	RouterURL         string
	TopicOrderCreated string
	// Token is an operator's: the load registers users and orders for them.
	Token string
	order []*service
}

// startStack runs users, orders, notifier and router on free loopback ports
// and waits for each /healthz. Stop it with stop.
func startStack(ctx context.Context, c stackConfig) (*stack, error) {
	s := &stack{Services: map[string]*service{}, TopicOrderCreated: "pb" + c.RunID + ".OrderCreated"}
	picked, err := testenv.FreePorts(len(services))
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for i, n := range services {
		ports[n] = picked[i]
	}
	url := func(n, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", ports[n], path) }
	signer, pubKey, err := routerproc.SigningKey(c.LogDir)
	if err != nil {
		return nil, err
	}
	if s.Token, err = signer.Mint("bench-operator", []string{identity.OperatorScope}, 24*time.Hour); err != nil {
		return nil, err
	}
	common := map[string]string{
		"HERALD_LOG_LEVEL":                 "info",
		"HERALD_DB_DRIVER":                 "postgres",
		"HERALD_STREAM":                    c.Stream,
		"HERALD_TOPIC_ORDER_CREATED":       s.TopicOrderCreated,
		"HERALD_TOPIC_ORDER_CANCELLED":     "pb" + c.RunID + ".OrderCancelled",
		"HERALD_TOPIC_NOTIFICATION_STATUS": "pb" + c.RunID + ".NotificationStatus",
		"HERALD_NOTIFIER_GROUP":            "pb" + c.RunID + "-notifier",
		"HERALD_USERS_GROUP":               "pb" + c.RunID + "-users",
		"HERALD_USERS_URL":                 url("users", "/graphql"),
		"HERALD_ORDERS_URL":                url("orders", "/graphql"),
	}
	if c.Stream == "kafka" {
		common["HERALD_KAFKA_BROKERS"] = strings.Join(c.Inf.KafkaBrokers, ",")
	} else {
		common["HERALD_NATS_URL"] = c.Inf.NATSURL
	}
	specific := map[string]map[string]string{
		"users":  {"HERALD_DB_DSN": c.DSN["users"]},
		"orders": {"HERALD_DB_DSN": c.DSN["orders"]},
		"notifier": {
			"HERALD_DB_DSN":       c.DSN["notifier"],
			"HERALD_SMTP_ADDR":    c.Inf.MailSMTP,
			"HERALD_SMTP_TLS":     "starttls-required",
			"HERALD_SMTP_CA_FILE": c.Inf.MailCA,
		},
		"router": {"HERALD_SUBGRAPHS": "users=" + url("users", "/graphql") + ",orders=" + url("orders", "/graphql"),
			"HERALD_AUTH_PUBLIC_KEY_FILE": pubKey,
			// The load generator is one caller (an operator).
			"HERALD_ROUTER_RATE_LIMIT": "0"},
	}
	for _, n := range services {
		env := map[string]string{}
		for _, m := range []map[string]string{common, specific[n], c.Extra["*"], c.Extra[n]} {
			for k, v := range m {
				env[k] = v
			}
		}
		env["HERALD_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", ports[n])
		svc, err := launch(filepath.Join(c.BinDir, n), environ(env), filepath.Join(c.LogDir, n+".log"))
		if err != nil {
			s.stop()
			return nil, err
		}
		svc.Name, svc.URL = n, "http://"+env["HERALD_HTTP_ADDR"]
		s.Services[n] = svc
		s.order = append(s.order, svc)
		if err := waitHealthy(ctx, svc); err != nil {
			s.stop()
			return nil, err
		}
	}
	s.RouterURL = url("router", "/graphql")
	return s, nil
}

// environ is our environment without HERALD_* variables, plus vars.
func environ(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env
}

func launch(path string, env []string, logPath string) (*service, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the benchmark dies, its services die with it. Pdeathsig follows the
	// forking thread, so keep this goroutine on it while forking.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	_ = logf.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	svc := &service{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(svc.done) }()
	return svc, nil
}

func (s *service) PID() int { return s.cmd.Process.Pid }

func (s *service) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop drains the services in reverse start order (SIGTERM, then SIGKILL
// after a grace period).
func (s *stack) stop() {
	for i := len(s.order) - 1; i >= 0; i-- {
		svc := s.order[i]
		if svc.exited() {
			continue
		}
		_ = svc.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-svc.done:
		case <-time.After(15 * time.Second):
			_ = svc.cmd.Process.Kill()
			<-svc.done
		}
	}
}

// alive reports the first service that has exited, if any.
func (s *stack) deadService() string {
	for _, svc := range s.order {
		if svc.exited() {
			return svc.Name
		}
	}
	return ""
}

func waitHealthy(ctx context.Context, svc *service) error {
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if svc.exited() {
			return fmt.Errorf("%s exited at start:\n%s", svc.Name, tailFile(svc.LogPath, 3000))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, svc.URL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy at %s: %v\n%s", svc.Name, svc.URL, last, tailFile(svc.LogPath, 3000))
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
