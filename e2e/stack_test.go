package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the four service binaries once per test process, so the
// test exercises exactly what ships.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
			"../cmd/users", "../cmd/orders", "../cmd/notifier", "../cmd/router")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

type stackOptions struct {
	Stream  map[string]string
	Mailpit *testenv.MailpitServer
	DSN     map[string]string // service → PostgreSQL DSN
}

type stack struct {
	Router *client
	logDir string
}

// startStack runs users, orders, notifier and router as processes on free
// ports, waits for each /healthz, and stops them (SIGTERM) when t ends.
func startStack(t *testing.T, ctx context.Context, o stackOptions) *stack {
	t.Helper()
	bin := binaries(t)
	logDir := t.TempDir()
	suffix := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	common := map[string]string{
		"HERALD_LOG_LEVEL":                 "debug",
		"HERALD_DB_DRIVER":                 "postgres",
		"HERALD_TOPIC_ORDER_CREATED":       suffix + ".OrderCreated",
		"HERALD_TOPIC_NOTIFICATION_STATUS": suffix + ".NotificationStatus",
		"HERALD_NOTIFIER_GROUP":            suffix + "-notifier",
	}
	for k, v := range o.Stream {
		common[k] = v
	}
	ports := map[string]int{}
	for _, name := range []string{"users", "orders", "notifier", "router"} {
		ports[name] = freePort(t)
	}
	url := func(name, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", ports[name], path) }
	common["HERALD_USERS_URL"] = url("users", "/graphql")
	common["HERALD_ORDERS_URL"] = url("orders", "/graphql")

	specific := map[string]map[string]string{
		"users":  {"HERALD_DB_DSN": o.DSN["users"]},
		"orders": {"HERALD_DB_DSN": o.DSN["orders"]},
		"notifier": {
			"HERALD_DB_DSN":       o.DSN["notifier"],
			"HERALD_SMTP_ADDR":    o.Mailpit.SMTPAddr,
			"HERALD_SMTP_TLS":     "starttls-required",
			"HERALD_SMTP_CA_FILE": o.Mailpit.CAFile,
		},
		"router": {
			"HERALD_SUBGRAPHS": "users=" + url("users", "/graphql") + ",orders=" + url("orders", "/graphql"),
		},
	}
	for _, name := range []string{"users", "orders", "notifier", "router"} {
		env := os.Environ()
		for k, v := range common {
			env = append(env, k+"="+v)
		}
		for k, v := range specific[name] {
			env = append(env, k+"="+v)
		}
		env = append(env, fmt.Sprintf("HERALD_HTTP_ADDR=127.0.0.1:%d", ports[name]))
		startProcess(t, filepath.Join(bin, name), env, filepath.Join(logDir, name+".log"))
		waitHealthy(t, ctx, name, url(name, "/healthz"), filepath.Join(logDir, name+".log"))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"users", "orders", "notifier", "router"} {
				b, _ := os.ReadFile(filepath.Join(logDir, name+".log"))
				t.Logf("---- %s log (last 4 KiB) ----\n%s", name, tail(b, 4096))
			}
		}
	})
	return &stack{Router: &client{url: url("router", "/graphql")}, logDir: logDir}
}

func startProcess(t *testing.T, path string, env []string, logPath string) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	// A test binary killed mid-run must not leave services behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
}

func waitHealthy(t *testing.T, ctx context.Context, name, url, logPath string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s not healthy at %s: %v\n%s", name, url, err, tail(b, 4096))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// client is a minimal GraphQL-over-HTTP client for the router.
type client struct{ url string }

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

func (c *client) do(t *testing.T, ctx context.Context, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", c.url, err)
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode response (HTTP %d): %v", resp.StatusCode, err)
	}
	if out != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode data %s: %v", r.Data, err)
		}
	}
	return r.Errors
}

func (c *client) mustDo(t *testing.T, ctx context.Context, query string, vars map[string]any, out any) {
	t.Helper()
	if errs := c.do(t, ctx, query, vars, out); len(errs) > 0 {
		t.Fatalf("graphql errors: %+v", errs)
	}
}

func registerUser(t *testing.T, ctx context.Context, c *client, name, email string, emailOn bool) string {
	t.Helper()
	var r struct {
		RegisterUser struct{ ID string } `json:"registerUser"`
	}
	c.mustDo(t, ctx, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`,
		map[string]any{"in": map[string]any{"name": name, "email": email, "phone": "+14155550123"}}, &r)
	var p struct {
		UpdateNotificationPreferences struct {
			Preferences struct{ Email bool } `json:"preferences"`
		} `json:"updateNotificationPreferences"`
	}
	c.mustDo(t, ctx, `mutation($id: ID!, $in: NotificationPreferencesInput!){
		updateNotificationPreferences(userId: $id, input: $in){ preferences { email } } }`,
		map[string]any{"id": r.RegisterUser.ID, "in": map[string]any{"email": emailOn, "sms": false}}, &p)
	if p.UpdateNotificationPreferences.Preferences.Email != emailOn {
		t.Fatalf("preferences.email = %v after setting %v", p.UpdateNotificationPreferences.Preferences.Email, emailOn)
	}
	return r.RegisterUser.ID
}

func orderInput(userID string) map[string]any {
	return map[string]any{
		"userId":   userID,
		"currency": "EUR",
		"items": []map[string]any{
			{"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unitPriceMinor": 450},
			{"sku": "MUG-9", "name": "Mug", "quantity": 1, "unitPriceMinor": 1200},
		},
	}
}

func createOrder(t *testing.T, ctx context.Context, c *client, userID string) string {
	t.Helper()
	var r struct {
		CreateOrder struct {
			ID         string `json:"id"`
			TotalMinor int    `json:"totalMinor"`
		} `json:"createOrder"`
	}
	c.mustDo(t, ctx, `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id totalMinor } }`,
		map[string]any{"in": orderInput(userID)}, &r)
	if r.CreateOrder.TotalMinor != 2100 {
		t.Fatalf("totalMinor = %d, want 2100", r.CreateOrder.TotalMinor)
	}
	return r.CreateOrder.ID
}

func mailTo(t *testing.T, ctx context.Context, mp *testenv.MailpitServer, to string) []testenv.MailMessage {
	t.Helper()
	msgs, err := mp.Messages(ctx, to)
	if err != nil {
		t.Fatalf("read mailpit: %v", err)
	}
	return msgs
}

// waitForMail polls mailpit until at least n messages to the address exist
// or the deadline passes.
func waitForMail(t *testing.T, ctx context.Context, mp *testenv.MailpitServer, to string, n int, within time.Duration) []testenv.MailMessage {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msgs := mailTo(t, ctx, mp, to)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails to %s after %s, want %d", len(msgs), to, within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
