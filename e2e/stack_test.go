package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// binaries returns the folder of the built service binaries, so the test
// exercises exactly what ships.
func binaries(t *testing.T) string {
	t.Helper()
	return testenv.Binaries(t)
}

// services in start order: each one's dependencies come before it.
var services = []string{"users", "orders", "notifier", "router"}

type stackOptions struct {
	Stream  map[string]string
	Mailpit *testenv.MailpitServer
	DSN     map[string]string // service → PostgreSQL DSN
	// Env adds or overrides variables of one service; the key "*" applies
	// to every service.
	Env map[string]map[string]string
	// Without names services startStack leaves stopped; start them later
	// with stack.Start.
	Without []string
	// Statuses adds the router's own notification status subgraph (the
	// notificationStatus subscription, as in the router's default
	// HERALD_SUBGRAPHS) to the users and orders subgraphs it composes.
	Statuses bool
}

type stack struct {
	Router *client
	// Topics and group of this stack (unique per stack).
	TopicOrderCreated       string
	TopicOrderCancelled     string
	TopicNotificationStatus string
	NotifierGroup           string
	DSN                     map[string]string

	bin    string
	logDir string
	ports  map[string]int
	env    map[string]map[string]string // service → complete HERALD_* environment

	mu    sync.Mutex
	procs []*proc
	runs  map[string]int // service → instances started so far
}

// proc is one running service process.
type proc struct {
	Name    string
	LogPath string
	HTTP    string // base URL of its HTTP listener
	cmd     *exec.Cmd
	done    chan struct{}
}

// startStack runs users, orders, notifier and router as processes on free
// ports, waits for each /healthz, and stops them (SIGTERM) when t ends.
func startStack(t *testing.T, ctx context.Context, o stackOptions) *stack {
	t.Helper()
	s := &stack{
		bin:    binaries(t),
		logDir: logDir(t),
		ports:  map[string]int{},
		env:    map[string]map[string]string{},
		runs:   map[string]int{},
		DSN:    o.DSN,
	}
	suffix := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	s.TopicOrderCreated = suffix + ".OrderCreated"
	s.TopicOrderCancelled = suffix + ".OrderCancelled"
	s.TopicNotificationStatus = suffix + ".NotificationStatus"
	s.NotifierGroup = suffix + "-notifier"
	common := map[string]string{
		"HERALD_LOG_LEVEL":                 "debug",
		"HERALD_DB_DRIVER":                 "postgres",
		"HERALD_TOPIC_ORDER_CREATED":       s.TopicOrderCreated,
		"HERALD_TOPIC_ORDER_CANCELLED":     s.TopicOrderCancelled,
		"HERALD_TOPIC_NOTIFICATION_STATUS": s.TopicNotificationStatus,
		"HERALD_NOTIFIER_GROUP":            s.NotifierGroup,
		"HERALD_USERS_GROUP":               suffix + "-users",
		// As in production: subgraphs accept only callers with the secret
		// (router, and orders and notifier calling users).
		"HERALD_SUBGRAPH_SECRET": "e2e-shared-subgraph-secret-" + suffix,
	}
	for k, v := range o.Stream {
		common[k] = v
	}
	for name, port := range freePorts(t, len(services)) {
		s.ports[services[name]] = port
	}
	url := func(name, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", s.ports[name], path) }
	common["HERALD_USERS_URL"] = url("users", "/graphql")
	common["HERALD_ORDERS_URL"] = url("orders", "/graphql")

	specific := map[string]map[string]string{
		// Static group members, as in compose.yaml: a restarted consumer
		// resumes its partitions at once. A second instance of a service
		// needs its own id (see TestProof5TwoNotifierInstances).
		"users":  {"HERALD_DB_DSN": o.DSN["users"], "HERALD_STREAM_INSTANCE_ID": suffix + "-users-1"},
		"orders": {"HERALD_DB_DSN": o.DSN["orders"]},
		"notifier": {
			"HERALD_STREAM_INSTANCE_ID": suffix + "-notifier-1",
			"HERALD_DB_DSN":             o.DSN["notifier"],
			"HERALD_SMTP_ADDR":          o.Mailpit.SMTPAddr,
			"HERALD_SMTP_TLS":           "starttls-required",
			"HERALD_SMTP_CA_FILE":       o.Mailpit.CAFile,
		},
		"router": {
			"HERALD_AUTH_JWKS_URLS": issuer.URL,
			"HERALD_AUTH_ISSUER":    issuer.Name,
			"HERALD_AUTH_AUDIENCE":  issuer.Audience,
			"HERALD_SUBGRAPHS":      "users=" + url("users", "/graphql") + ",orders=" + url("orders", "/graphql"),
		},
	}
	if o.Statuses {
		specific["router"]["HERALD_SUBGRAPHS"] += ",notifications=builtin"
	}
	for _, name := range services {
		env := map[string]string{}
		for _, m := range []map[string]string{common, specific[name], o.Env["*"], o.Env[name]} {
			for k, v := range m {
				env[k] = v
			}
		}
		env["HERALD_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", s.ports[name])
		s.env[name] = env
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs(t)
		}
	})
	skip := map[string]bool{}
	for _, n := range o.Without {
		skip[n] = true
	}
	for _, name := range services {
		if !skip[name] {
			s.Start(t, ctx, name)
		}
	}
	s.Router = &client{url: url("router", "/graphql"), token: issuer.Operator("e2e-operator"), users: &sync.Map{}}
	return s
}

// logDir is where the services' logs go: a folder removed with the test, or
// with HERALD_TEST_KEEP=1 one that stays (its path is logged).
func logDir(t *testing.T) string {
	t.Helper()
	if os.Getenv(testenv.EnvKeep) != "1" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "herald-e2e-logs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("service logs kept in %s", dir)
	return dir
}

// Start runs a new process of the service on its usual port and waits for
// /healthz.
func (s *stack) Start(t *testing.T, ctx context.Context, name string) *proc {
	t.Helper()
	p := s.Launch(t, name, nil)
	p.waitHealthy(t, ctx)
	return p
}

// waitHealthy waits until the process answers /healthz with 200.
func (p *proc) waitHealthy(t *testing.T, ctx context.Context) {
	t.Helper()
	p.waitHTTP(t, ctx, func(code int) bool { return code == http.StatusOK })
}

// waitHTTP waits until the process answers /healthz with a status accept
// takes. A process that exits fails the test at once: whatever answers on
// its port then is not it.
func (p *proc) waitHTTP(t *testing.T, ctx context.Context, accept func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.Exited() {
			b, _ := os.ReadFile(p.LogPath)
			t.Fatalf("%s exited while starting:\n%s", p.Name, tail(b, 4096))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.HTTP+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if accept(resp.StatusCode) && !p.Exited() {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b, _ := os.ReadFile(p.LogPath)
			t.Fatalf("%s not ready at %s: %v\n%s", p.Name, p.HTTP, err, tail(b, 4096))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Launch starts a process of the service without waiting for it; env
// overrides its variables (an instance beside another needs its own
// HERALD_HTTP_ADDR).
func (s *stack) Launch(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	vars := map[string]string{}
	for k, v := range s.env[name] {
		vars[k] = v
	}
	for k, v := range env {
		vars[k] = v
	}
	s.mu.Lock()
	s.runs[name]++
	n := s.runs[name]
	s.mu.Unlock()
	logName := name + ".log"
	if n > 1 {
		logName = fmt.Sprintf("%s.%d.log", name, n)
	}
	// The port is held while no process of the service runs (freePort, and
	// again after every exit): let go of it just before the process binds it.
	port := addrPort(vars["HERALD_HTTP_ADDR"])
	releasePort(port)
	p := startProcess(t, filepath.Join(s.bin, name), environ(vars), filepath.Join(s.logDir, logName), port)
	p.Name = name
	p.HTTP = "http://" + vars["HERALD_HTTP_ADDR"]
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// Proc returns the newest process of the service.
func (s *stack) Proc(name string) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		if s.procs[i].Name == name {
			return s.procs[i]
		}
	}
	return nil
}

// Procs returns every process of the service started so far.
func (s *stack) Procs(name string) []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*proc
	for _, p := range s.procs {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// Env returns the environment a process of the service gets, for running
// its binary's subcommands (e.g. `notifier dlq replay`).
func (s *stack) Env(name string) []string { return environ(s.env[name]) }

// Binary returns the path of a service binary.
func (s *stack) Binary(name string) string { return filepath.Join(s.bin, name) }

func (s *stack) dumpLogs(t *testing.T) {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for _, p := range procs {
		b, _ := os.ReadFile(p.LogPath)
		t.Logf("---- %s (last 4 KiB) ----\n%s", filepath.Base(p.LogPath), tail(b, 4096))
	}
}

// environ is os.Environ without inherited HERALD_* variables, plus vars.
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

// startProcess runs path; once it exits, its HTTP port (when not 0) is held
// again until the next process is launched on it or the test ends.
func startProcess(t *testing.T, path string, env []string, logPath string, port int) *proc {
	t.Helper()
	return startProcessIn(t, "", path, env, logPath, port)
}

// startProcessIn is startProcess in the working directory dir ("": the
// test's).
func startProcessIn(t *testing.T, dir, path string, env []string, logPath string, port int) *proc {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	// A test binary killed mid-run must not leave services behind. Pdeathsig
	// fires when the forking thread exits, so keep the goroutine on it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	_ = logf.Close() // the child has its own copy
	if err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	p := &proc{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		if port != 0 {
			// Best effort: a hold that cannot be taken leaves the port as
			// unprotected as it was without one.
			_, _ = holdPort(port)
		}
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(20 * time.Second) })
	return p
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (p *proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop asks the process to drain (SIGTERM) and waits for it to exit.
func (p *proc) Stop() { p.stop(20 * time.Second) }

func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Exited reports whether the process has ended.
func (p *proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freePorts returns n distinct free ports, each held (see holdPort) until
// the test ends or a process is launched on it.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ports = append(ports, freePort(t))
	}
	return ports
}

// freePort returns a free port, held (see holdPort) until the test ends or a
// process is launched on it. Reserving a port by closing a listener would
// leave it free for anyone (another test process binding ":0", an outgoing
// connection) until the service binds it.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := holdPort(0)
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	t.Cleanup(func() { releasePort(port) })
	return port
}

// held maps a port to the socket that holds it.
var held = struct {
	sync.Mutex
	fds map[int]int
}{fds: map[int]int{}}

// holdPort binds a TCP socket to 127.0.0.1:port (0: any free port) without
// listening on it, and returns the port. While it is held the kernel hands
// the port to no other bind(":0") or outgoing connection, and a connection
// to it is refused, just as when nothing runs there. The services' ports
// are held while their process is down (between a kill and a restart on the
// same port, for example), so nothing else can take them meanwhile.
// SO_REUSEADDR lets the hold coexist with the TIME_WAIT connections a killed
// process leaves behind.
func holdPort(port int) (int, error) {
	held.Lock()
	defer held.Unlock()
	if _, ok := held.fds[port]; ok && port != 0 {
		return port, nil
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return 0, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		return 0, fmt.Errorf("bind 127.0.0.1:%d: %w", port, err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return 0, err
	}
	port = sa.(*syscall.SockaddrInet4).Port
	held.fds[port] = fd
	return port, nil
}

// releasePort closes the hold on port, if any.
func releasePort(port int) {
	held.Lock()
	defer held.Unlock()
	if fd, ok := held.fds[port]; ok {
		_ = syscall.Close(fd)
		delete(held.fds, port)
	}
}

// addrPort is the port of a "host:port" address, or 0.
func addrPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, _ := strconv.Atoi(p)
	return port
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// client is a minimal GraphQL-over-HTTP client for the router.
// client calls the router with a bearer token: an operator's, or a user's
// for the users it registered (as).
type client struct {
	url   string
	token string
	users *sync.Map // user id → token of the user it registered
}

// at is c calling another router at url, with the same token.
func (c *client) at(url string) *client {
	return &client{url: url, token: c.token, users: c.users}
}

// as is c calling as the user userID when c registered them, else c.
func (c *client) as(userID string) *client {
	if tok, ok := c.users.Load(userID); ok {
		return &client{url: c.url, token: tok.(string), users: c.users}
	}
	return c
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// call posts one operation. It returns transport and decoding problems as
// an error and GraphQL errors as the slice; it never ends the test, so it
// may run on any goroutine.
func (c *client) call(ctx context.Context, query string, vars map[string]any, out any) ([]gqlError, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response (HTTP %d): %w", resp.StatusCode, err)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode response (HTTP %d): %w: %s", resp.StatusCode, err, tail(raw, 512))
	}
	if out != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return r.Errors, fmt.Errorf("decode data %s: %w", r.Data, err)
		}
	}
	return r.Errors, nil
}

func (c *client) do(t *testing.T, ctx context.Context, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	errs, err := c.call(ctx, query, vars, out)
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

// try is call with GraphQL errors folded into the error.
func (c *client) try(ctx context.Context, query string, vars map[string]any, out any) error {
	errs, err := c.call(ctx, query, vars, out)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("graphql errors: %+v", errs)
	}
	return nil
}

func (c *client) mustDo(t *testing.T, ctx context.Context, query string, vars map[string]any, out any) {
	t.Helper()
	if err := c.try(ctx, query, vars, out); err != nil {
		t.Fatal(err)
	}
}

func registerUser(t *testing.T, ctx context.Context, c *client, name, email string, emailOn bool) string {
	t.Helper()
	id, err := tryRegisterUser(ctx, c, name, email, emailOn)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tryRegisterUser registers a user as themselves (a token for a subject of
// their own, which later calls for them through c.as use) and sets the
// email switch (SMS off). It uses only what both the first and the full
// preference model offer.
func tryRegisterUser(ctx context.Context, c *client, name, email string, emailOn bool) (string, error) {
	var r struct {
		RegisterUser struct{ ID string } `json:"registerUser"`
	}
	c = &client{url: c.url, token: issuer.Token("user:" + email), users: c.users}
	if err := c.try(ctx, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`,
		map[string]any{"in": map[string]any{"name": name, "email": email, "phone": "+14155550123"}}, &r); err != nil {
		return "", fmt.Errorf("registerUser %s: %w", email, err)
	}
	c.users.Store(r.RegisterUser.ID, c.token)
	var p struct {
		UpdateNotificationPreferences struct {
			Preferences struct{ Email bool } `json:"preferences"`
		} `json:"updateNotificationPreferences"`
	}
	if err := c.try(ctx, `mutation($id: ID!, $in: NotificationPreferencesInput!){
		updateNotificationPreferences(userId: $id, input: $in){ preferences { email } } }`,
		map[string]any{"id": r.RegisterUser.ID, "in": map[string]any{"email": emailOn, "sms": false}}, &p); err != nil {
		return "", fmt.Errorf("updateNotificationPreferences %s: %w", email, err)
	}
	if p.UpdateNotificationPreferences.Preferences.Email != emailOn {
		return "", fmt.Errorf("preferences.email = %v after setting %v", p.UpdateNotificationPreferences.Preferences.Email, emailOn)
	}
	return r.RegisterUser.ID, nil
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
	id, err := tryCreateOrder(ctx, c, userID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func tryCreateOrder(ctx context.Context, c *client, userID string) (string, error) {
	var r struct {
		CreateOrder struct {
			ID         string `json:"id"`
			TotalMinor int    `json:"totalMinor"`
		} `json:"createOrder"`
	}
	if err := c.as(userID).try(ctx, `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id totalMinor } }`,
		map[string]any{"in": orderInput(userID)}, &r); err != nil {
		return "", fmt.Errorf("createOrder for %s: %w", userID, err)
	}
	if r.CreateOrder.TotalMinor != 2100 {
		return "", fmt.Errorf("createOrder for %s: totalMinor = %d, want 2100", userID, r.CreateOrder.TotalMinor)
	}
	return r.CreateOrder.ID, nil
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
