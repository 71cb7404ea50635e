package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	table "github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/testenv"
)

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

// stack is the services of the table in internal/stack running as
// processes (testenv.Stack), with the test's operator client of its router.
type stack struct {
	Router *client
	// Topics and group of this stack (unique per stack).
	TopicOrderCreated       string
	TopicOrderCancelled     string
	TopicNotificationStatus string
	NotifierGroup           string

	st *testenv.Stack
}

// proc is one running service process.
type proc struct{ *testenv.ServiceProc }

// startStack runs the services on the built binaries, each on a port
// reserved for the test, waits for each /healthz, and stops them (SIGTERM)
// when t ends.
func startStack(t *testing.T, ctx context.Context, o stackOptions) *stack {
	t.Helper()
	name := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	w := table.Wiring{
		DSN:      o.DSN,
		DBDriver: "postgres",
		Stream:   o.Stream,
		Name:     name,
		// Static group members, as in compose.yaml: a restarted consumer
		// resumes its partitions at once. A second instance of a service
		// needs its own id (see TestProof5TwoNotifierInstances).
		StaticMembers: true,
		// As in production: subgraphs accept only callers with the secret
		// (router, and orders and notifier calling users).
		SubgraphSecret: "e2e-shared-subgraph-secret-" + name,
		SMTP:           table.SMTP{Addr: o.Mailpit.SMTPAddr, TLS: "starttls-required", CAFile: o.Mailpit.CAFile},
		Auth: map[string]string{
			"HERALD_AUTH_JWKS_URLS": issuer.URL,
			"HERALD_AUTH_ISSUER":    issuer.Name,
			"HERALD_AUTH_AUDIENCE":  issuer.Audience,
		},
		Statuses: o.Statuses,
		Common:   map[string]string{"HERALD_LOG_LEVEL": "debug"},
		Extra:    o.Env,
	}
	env := w.Env("notifier") // the wiring names the stack's topics and group
	s := &stack{
		TopicOrderCreated:       env["HERALD_TOPIC_ORDER_CREATED"],
		TopicOrderCancelled:     env["HERALD_TOPIC_ORDER_CANCELLED"],
		TopicNotificationStatus: env["HERALD_TOPIC_NOTIFICATION_STATUS"],
		NotifierGroup:           env["HERALD_NOTIFIER_GROUP"],
	}
	var started *testenv.Stack
	t.Cleanup(func() {
		if started == nil {
			return
		}
		if t.Failed() {
			dumpLogs(t, started)
		}
		started.Stop()
	})
	st, err := testenv.StartStack(ctx, testenv.StackConfig{BinDir: testenv.Binaries(t), LogDir: logDir(t), Wiring: w, Without: o.Without})
	if err != nil {
		t.Fatal(err)
	}
	started, s.st = st, st
	s.Router = &client{GraphQLClient: testenv.GraphQLClient{URL: st.URL("router", "/graphql"), Token: issuer.Operator("e2e-operator")}, users: &sync.Map{}}
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

// Launch starts a process of the service without waiting for it; env
// overrides its variables (an instance beside another needs its own
// HERALD_HTTP_ADDR).
func (s *stack) Launch(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	p, err := s.st.Launch(name, env)
	if err != nil {
		t.Fatal(err)
	}
	return &proc{p}
}

// waitHealthy waits until the process answers its health path with 200.
func (p *proc) waitHealthy(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := p.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

// Proc returns the newest process of the service.
func (s *stack) Proc(name string) *proc { return &proc{s.st.Proc(name)} }

// Procs returns every process of the service started so far.
func (s *stack) Procs(name string) []*proc {
	var out []*proc
	for _, p := range s.st.Procs(name) {
		out = append(out, &proc{p})
	}
	return out
}

// Var is one variable of the service's environment.
func (s *stack) Var(name, key string) string { return s.st.Env(name)[key] }

// Env returns the environment a process of the service gets, for running
// its binary's subcommands (e.g. `notifier dlq replay`).
func (s *stack) Env(name string) []string { return testenv.Environ(s.st.Env(name)) }

// Binary returns the path of a service binary.
func (s *stack) Binary(name string) string { return s.st.Binary(name) }

func dumpLogs(t *testing.T, st *testenv.Stack) {
	for _, p := range st.All() {
		t.Logf("---- %s (last 4 KiB) ----\n%s", filepath.Base(p.LogPath), p.Tail(4096))
	}
}

// freePort is a port reserved for the test (see testenv.FreePorts).
func freePort(t *testing.T) int { return testenv.Ports(t, 1)[0] }

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// client calls the router with a bearer token: an operator's, or a user's
// for the users it registered (as).
type client struct {
	testenv.GraphQLClient
	users *sync.Map // user id → token of the user it registered
}

type gqlError = testenv.GraphQLError

// at is c calling another router at url, with the same token.
func (c *client) at(url string) *client {
	return &client{GraphQLClient: testenv.GraphQLClient{URL: url, Token: c.Token}, users: c.users}
}

// as is c calling as the user userID when c registered them, else c.
func (c *client) as(userID string) *client {
	if tok, ok := c.users.Load(userID); ok {
		return &client{GraphQLClient: testenv.GraphQLClient{URL: c.URL, Token: tok.(string)}, users: c.users}
	}
	return c
}

func (c *client) do(t *testing.T, ctx context.Context, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	errs, err := c.Do(ctx, query, vars, out)
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

func (c *client) mustDo(t *testing.T, ctx context.Context, query string, vars map[string]any, out any) {
	t.Helper()
	if err := c.Try(ctx, query, vars, out); err != nil {
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
	c = &client{GraphQLClient: testenv.GraphQLClient{URL: c.URL, Token: issuer.Token("user:" + email)}, users: c.users}
	if err := c.Try(ctx, `mutation($in: RegisterUserInput!){ registerUser(input: $in){ id } }`,
		map[string]any{"in": map[string]any{"name": name, "email": email, "phone": "+14155550123"}}, &r); err != nil {
		return "", fmt.Errorf("registerUser %s: %w", email, err)
	}
	c.users.Store(r.RegisterUser.ID, c.Token)
	var p struct {
		UpdateNotificationPreferences struct {
			Preferences struct{ Email bool } `json:"preferences"`
		} `json:"updateNotificationPreferences"`
	}
	if err := c.Try(ctx, `mutation($id: ID!, $in: NotificationPreferencesInput!){
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
	if err := c.as(userID).Try(ctx, `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id totalMinor } }`,
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
