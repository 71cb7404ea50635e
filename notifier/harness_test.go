package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/events/eventstest"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/stream"
	kafkastream "github.com/heraldhq/herald/internal/stream/kafka"
	natsstream "github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testrun"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/subgraphs/users"
)

// testLogger writes through t.Log so failures show what the service said.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// usersService is a real users subgraph (subgraphs/users.Run) on a free port
// over its own SQLite database.
type usersService struct {
	URL string // GraphQL endpoint
	// owners are the users register made, by id: each bound to a subject
	// of its own, and requests about them are sent as them.
	owners sync.Map // id → identity.Identity
}

func startUsers(t testing.TB) *usersService { return startUsersWith(t, nil) }

// startUsersWith lets a test change the users service's configuration (for
// example which categories are critical).
func startUsersWith(t testing.TB, configure func(*users.Config)) *usersService {
	t.Helper()
	cfg := users.Config{HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "users.db")}}
	if configure != nil {
		configure(&cfg)
	}
	s := testrun.Start(t, "users", func(ctx context.Context, ready func(net.Addr)) error {
		return users.Run(ctx, cfg, users.Deps{Logger: slog.New(slog.DiscardHandler), Ready: ready})
	})
	return &usersService{URL: s.URL() + "/graphql"}
}

func (u *usersService) do(t testing.TB, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, u.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// Requests about a user register made go as that user (only its owner
	// sees a webhook signing secret); others as an operator.
	caller := identity.Identity{Subject: "operator", Scopes: []string{identity.OperatorScope}}
	if id, ok := vars["id"].(string); ok {
		if owner, ok := u.owners.Load(id); ok {
			caller = owner.(identity.Identity)
		}
	}
	caller.SetHeader(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("users request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []any           `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 || resp.StatusCode != http.StatusOK {
		t.Fatalf("users request: status %d, body %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("users response %s: %v", r.Data, err)
	}
}

// register creates a user and sets its preferences; it returns the user id.
func (u *usersService) register(t testing.TB, name, email, phone string, emailOn, smsOn bool) string {
	t.Helper()
	me := identity.Identity{Subject: "user-" + uuid.NewString()}
	input := map[string]any{"name": name, "email": email, "subject": me.Subject}
	if phone != "" {
		input["phone"] = phone
	}
	var reg struct {
		RegisterUser struct{ ID string } `json:"registerUser"`
	}
	u.do(t, `mutation($in: RegisterUserInput!) { registerUser(input: $in) { id } }`, map[string]any{"in": input}, &reg)
	u.owners.Store(reg.RegisterUser.ID, me)
	var upd struct{ UpdateNotificationPreferences struct{ ID string } }
	u.do(t, `mutation($id: ID!, $in: NotificationPreferencesInput!) { updateNotificationPreferences(userId: $id, input: $in) { id } }`,
		map[string]any{"id": reg.RegisterUser.ID, "in": map[string]any{"email": emailOn, "sms": smsOn}}, &upd)
	return reg.RegisterUser.ID
}

// update applies an UpdateUserInput.
func (u *usersService) update(t testing.TB, id string, input map[string]any) {
	t.Helper()
	var out struct {
		UpdateUser struct{ User struct{ ID string } }
	}
	u.do(t, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { user { id } } }`,
		map[string]any{"id": id, "in": input}, &out)
}

// delete erases a user.
func (u *usersService) delete(t testing.TB, id string) {
	t.Helper()
	var out struct{ DeleteUser struct{ ID string } }
	u.do(t, `mutation($id: ID!) { deleteUser(id: $id) { id } }`, map[string]any{"id": id}, &out)
}

// kafkaBroker is the Kafka stream layer over the shared test broker.
func kafkaBroker(t *testing.T) stream.Broker {
	t.Helper()
	k := testenv.Kafka(t)
	broker, err := kafkastream.New(context.Background(), kafkastream.Config{
		Brokers: k.Brokers, RetryMin: 50 * time.Millisecond, RetryMax: time.Second,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	return broker
}

// natsBroker is the NATS JetStream stream layer over the shared test server.
func natsBroker(t *testing.T) stream.Broker {
	t.Helper()
	broker, err := natsstream.New(context.Background(), natsstream.Config{
		URL: testenv.NATS(t), RetryMin: 50 * time.Millisecond, RetryMax: time.Second,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	return broker
}

// reload reads delivery id again.
func reload(t testing.TB, client *entnotifier.Client, id uuid.UUID) *entnotifier.Delivery {
	t.Helper()
	d, err := client.Delivery.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// historyOf is the status history of d as "FROM>TO#attempt reason" lines
// (the reason only when there is one).
func historyOf(t testing.TB, client *entnotifier.Client, d *entnotifier.Delivery) []string {
	t.Helper()
	hist, err := StatusHistory(context.Background(), client, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hist {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s>%s#%d %s", h.FromStatus, h.Status, h.Attempt, h.Reason)))
	}
	return out
}

// publisher publishes through broker until the test ends, once topics
// exist; a topic or a message that cannot be had within its deadline fails
// the test.
func publisher(t *testing.T, broker stream.Broker, topics ...string) func(ms ...stream.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	pub := streamtest.Publisher(t, ctx, broker, topics...)
	cancel()
	return func(ms ...stream.Message) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pub.Publish(ctx, ms...); err != nil {
			t.Fatal(err)
		}
	}
}

// openSQLite opens a fresh notifier database in a temp dir and migrates it.
func openSQLite(t testing.TB) (*entnotifier.Client, *db.DB) {
	t.Helper()
	return openDB(t, db.SQLite, filepath.Join(t.TempDir(), "notifier.db"))
}

// eachDB runs f as one subtest per database the notifier runs on (named by
// its driver), each with a fresh database: a SQLite file, a PostgreSQL
// database of the shared test cluster.
func eachDB(t *testing.T, f func(t *testing.T, driver, dsn string)) {
	for _, tc := range []struct {
		driver string
		dsn    func(t *testing.T) string
	}{
		{db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "notifier.db") }},
		{db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
	} {
		t.Run(tc.driver, func(t *testing.T) { f(t, tc.driver, tc.dsn(t)) })
	}
}

func openDB(t testing.TB, driver, dsn string) (*entnotifier.Client, *db.DB) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	// The versioned migrations, as Run applies them (HERALD_DB_MIGRATE=auto).
	if err := db.EnsureSchema(ctx, d, migrate.ModeAuto, migrations.Set, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return entnotifier.NewClient(entnotifier.Driver(d.Driver)), d
}

// orderMessage encodes an OrderCreated event for userID with a fresh event id.
func orderMessage(t testing.TB, topic, userID, orderID string) stream.Message {
	t.Helper()
	o := sampleOrder()
	o.UserID, o.OrderID = userID, orderID
	m, err := events.Encode(topic, userID, events.Envelope{
		ID: uuid.NewString(), Source: "/herald/orders", Type: events.TypeOrderCreated, Time: time.Now(),
	}, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// cancelMessage encodes an OrderCancelled event for userID's order with a
// fresh event id.
func cancelMessage(t testing.TB, topic, userID, orderID string) stream.Message {
	t.Helper()
	o := sampleOrder()
	now := time.Now().UTC()
	m, err := events.Encode(topic, userID, events.Envelope{
		ID: uuid.NewString(), Source: "/herald/orders", Type: events.TypeOrderCancelled, Subject: orderID, Time: now,
	}, events.OrderCancelled{OrderID: orderID, UserID: userID, TotalMinor: o.TotalMinor, Currency: o.Currency,
		Reason: "ordered twice", CreatedAt: o.CreatedAt, CancelledAt: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recordingPublisher keeps what is published. Only the consumer's unit tests
// use it, for its dead-letter output; the integration tests publish to a real
// broker.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []stream.Message
	err  error // when set, Publish fails with it (a dead-letter topic that is down)
}

func (p *recordingPublisher) Publish(_ context.Context, msgs ...stream.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *recordingPublisher) Close() error { return nil }

func (p *recordingPublisher) published() []stream.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

// refusedAddr returns a 127.0.0.1 address where connections are refused,
// like a dependency that is down. Its port stays bound, without listening,
// until the test ends: the kernel hands it to no other bind(":0") or
// outgoing connection meanwhile, so no server started by this or another
// test process can answer there (closing a listener and reusing its address
// would leave that window open).
func refusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func uniqueName(prefix string) string { return fmt.Sprintf("%s-%s", prefix, uuid.NewString()[:8]) }

func sampleOrder() events.OrderCreated { return eventstest.Order() }

// waitMail polls mailpit until want messages reached to (or the test's
// patience ends) and returns them.
func waitMail(t *testing.T, mp interface {
	Messages(context.Context, string) ([]testenv.MailMessage, error)
}, to string, want int) []testenv.MailMessage {
	t.Helper()
	return testwait.Value(t, func() ([]testenv.MailMessage, error) { return mp.Messages(context.Background(), to) },
		func(msgs []testenv.MailMessage) bool { return len(msgs) >= want })
}

func uniqueAddress(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8] + "@example.com"
}

// mailpitEmail is the email channel's configuration for a mailpit relay
// (STARTTLS required, trusting mailpit's CA).
func mailpitEmail(mp *testenv.MailpitServer) email.Config {
	return email.Config{Addr: mp.SMTPAddr, TLS: email.TLSStartTLSRequired, CAFile: mp.CAFile,
		From: "Herald <notifications@herald.local>", Timeout: 10 * time.Second}
}

// mailpitSender is the real email channel sender for a mailpit relay.
func mailpitSender(t testing.TB, mp *testenv.MailpitServer) *email.Sender {
	t.Helper()
	s, err := email.New(mailpitEmail(mp), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
