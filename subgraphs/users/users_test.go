package users_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/migrations"
	"github.com/heraldhq/herald/ent/users/user"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testrun"
	"github.com/heraldhq/herald/subgraphs/users"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSubgraphSQLite and TestSubgraphPostgres run the same behaviour suite
// through real HTTP against each supported database.
func TestSubgraphSQLite(t *testing.T) {
	runSuite(t, newEnv(t, db.SQLite, filepath.Join(t.TempDir(), "users.db")))
}

func TestSubgraphPostgres(t *testing.T) {
	runSuite(t, newEnv(t, db.Postgres, testenv.Postgres(t)))
}

// env is a users subgraph served over httptest, with direct access to its
// database so tests can check what was (not) written.
type env struct {
	url    string
	client *entusers.Client
	// owners are the users registered through the helpers, by id: each
	// registered as itself, a user with a subject of its own.
	owners sync.Map // id → identity.Identity
}

// registerAs registers input as a new user with a subject of its own.
func (e *env) registerAs(t *testing.T, mutation string, input map[string]any, out any) {
	t.Helper()
	me := identity.Identity{Subject: "user-" + uuid.NewString()}
	post(t, e.url, mutation, map[string]any{"input": input}, me).data(t, out)
	e.owners.Store(identity.UserID(me.Subject), me)
}

// owner is who registered id through the helpers; an operator otherwise.
func (e *env) owner(id string) []identity.Identity {
	if me, ok := e.owners.Load(id); ok {
		return []identity.Identity{me.(identity.Identity)}
	}
	return nil
}

// startRun runs the service as main does, with deps (and the test's
// logger unless deps has one), until the test ends or it is stopped, and
// returns it once it serves.
func startRun(t *testing.T, cfg users.Config, deps users.Deps) *testrun.Run {
	t.Helper()
	if deps.Logger == nil {
		deps.Logger = testLogger(t)
	}
	return testrun.Start(t, "users", func(ctx context.Context, ready func(net.Addr)) error {
		deps.Ready = ready
		return users.Run(ctx, cfg, deps)
	})
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newEnv(t *testing.T, driver, dsn string) *env {
	t.Helper()
	ctx := t.Context()
	d, err := db.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { _ = d.Close() })
	fsys, err := migrations.Set.FS(d.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, d.SQL, d.Dialect, fsys); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	client := entusers.NewClient(entusers.Driver(d.Driver))
	srv := httptest.NewServer(identity.Middleware(users.NewHandler(client, d, testLogger(t), users.Options{})))
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, client: client}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// post sends one GraphQL request as caller (the identity headers the router
// would send) and decodes the answer. Without a caller it is an operator
// with a fresh subject each time, so every registration binds a subject of
// its own; tests of ownership pass their callers.
func post(t *testing.T, url, query string, vars map[string]any, caller ...identity.Identity) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	id := identity.Identity{Subject: "operator-" + uuid.NewString(), Scopes: []string{identity.OperatorScope}}
	if len(caller) > 0 {
		id = caller[0]
	}
	id.SetHeader(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode response (status %d): %v", resp.StatusCode, err)
	}
	return out
}

// data decodes a successful response's data into v.
func (r gqlResponse) data(t *testing.T, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// onlyError returns the single error of a failed response.
func (r gqlResponse) onlyError(t *testing.T) gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want exactly one error, got %+v (data %s)", r.Errors, r.Data)
	}
	return r.Errors[0]
}

type apiUser struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Email       string  `json:"email"`
	Phone       *string `json:"phone"`
	Preferences struct {
		Email bool `json:"email"`
		SMS   bool `json:"sms"`
	} `json:"preferences"`
	CreatedAt time.Time `json:"createdAt"`
}

const userFields = `id name email phone preferences { email sms } createdAt`

const registerMutation = `mutation($input: RegisterUserInput!) { registerUser(input: $input) { ` + userFields + ` } }`

const updateMutation = `mutation($id: ID!, $input: NotificationPreferencesInput!) {
  updateNotificationPreferences(userId: $id, input: $input) { ` + userFields + ` } }`

const userQuery = `query($id: ID!) { user(id: $id) { ` + userFields + ` } }`

func (e *env) register(t *testing.T, input map[string]any) apiUser {
	t.Helper()
	return registered[apiUser](t, e, registerMutation, input)
}

func (e *env) user(t *testing.T, id string) *apiUser {
	t.Helper()
	return userByID[apiUser](t, e, userQuery, id)
}

// registered registers input with mutation and decodes the user selected
// as a U.
func registered[U any](t *testing.T, e *env, mutation string, input map[string]any) U {
	t.Helper()
	var out struct{ RegisterUser U }
	e.registerAs(t, mutation, input, &out)
	return out.RegisterUser
}

// userByID reads user id with query and decodes it as a U (nil: null).
func userByID[U any](t *testing.T, e *env, query, id string) *U {
	t.Helper()
	var out struct{ User *U }
	post(t, e.url, query, map[string]any{"id": id}).data(t, &out)
	return out.User
}

func (e *env) count(t *testing.T) int {
	t.Helper()
	n, err := e.client.User.Query().Count(t.Context())
	if err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}

func runSuite(t *testing.T, e *env) {
	for _, c := range []struct {
		name string
		test func(*testing.T, *env)
	}{
		{"register, read back, update preferences", testLifecycle},
		{"invalid registration changes nothing", testInvalidRegistration},
		{"duplicate email", testDuplicateEmail},
		{"unknown user", testUnknownUser},
		{"federation _service sdl", testServiceSDL},
		{"federation _entities", testEntities},
		{"preferences: create, read back, change", testPreferences},
		{"invalid updates change nothing", testInvalidUpdates},
		{"update user and email uniqueness", testUpdateUser},
		{"webhook secret shown once, signs later", testWebhook},
		{"notification policy", testNotificationPolicy},
		{"delete erases and tombstones", testDeleteUser},
		{"users connection", testUsersConnection},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, e) })
	}
}

func testLifecycle(t *testing.T, e *env) {
	before := time.Now().Add(-time.Minute)
	u := e.register(t, map[string]any{"name": "  Ada Lovelace ", "email": "Ada.Lovelace@Example.COM", "phone": "+44 20 7946 0018"})
	if u.ID == "" || u.Name != "Ada Lovelace" || u.Email != "ada.lovelace@example.com" ||
		u.Phone == nil || *u.Phone != "+442079460018" {
		t.Fatalf("registered %+v", u)
	}
	if !u.Preferences.Email || u.Preferences.SMS {
		t.Fatalf("default preferences %+v, want email on and sms off", u.Preferences)
	}
	if u.CreatedAt.Before(before) || u.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("createdAt %v is not about now", u.CreatedAt)
	}

	got := e.user(t, u.ID)
	if got == nil || got.ID != u.ID || got.Email != u.Email || got.Name != u.Name || *got.Phone != *u.Phone ||
		!got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("read back %+v, registered %+v", got, u)
	}

	// Fields left out stay unchanged.
	steps := []struct {
		input          map[string]any
		wantEmail, sms bool
	}{
		{map[string]any{"sms": true}, true, true},
		{map[string]any{"email": false}, false, true},
		{map[string]any{}, false, true},
		{map[string]any{"email": true, "sms": false}, true, false},
	}
	for _, s := range steps {
		var out struct{ UpdateNotificationPreferences apiUser }
		post(t, e.url, updateMutation, map[string]any{"id": u.ID, "input": s.input}).data(t, &out)
		p := out.UpdateNotificationPreferences.Preferences
		if p.Email != s.wantEmail || p.SMS != s.sms {
			t.Fatalf("after update %v: preferences %+v, want email=%v sms=%v", s.input, p, s.wantEmail, s.sms)
		}
		if stored := e.user(t, u.ID); stored.Preferences != p {
			t.Fatalf("after update %v: stored %+v, returned %+v", s.input, stored.Preferences, p)
		}
	}

	noPhone := e.register(t, map[string]any{"name": "Grace", "email": "grace@example.org", "phone": nil})
	if noPhone.Phone != nil {
		t.Fatalf("phone %q, want null", *noPhone.Phone)
	}
	if noPhone.ID == u.ID {
		t.Fatalf("two users got the same id %s", u.ID)
	}
}

func testInvalidRegistration(t *testing.T, e *env) {
	valid := func(over map[string]any) map[string]any {
		in := map[string]any{"name": "Invalid Case", "email": "invalid-case@example.com", "phone": "+16502530000"}
		for k, v := range over {
			in[k] = v
		}
		return in
	}
	tests := []struct {
		name  string
		input map[string]any
		field string
	}{
		{"empty name", valid(map[string]any{"name": ""}), "input.name"},
		{"blank name", valid(map[string]any{"name": "   "}), "input.name"},
		{"name too long", valid(map[string]any{"name": strings.Repeat("n", 201)}), "input.name"},
		{"control character in name", valid(map[string]any{"name": "Ada\r\nBcc: someone"}), "input.name"},
		{"email without domain", valid(map[string]any{"email": "ada"}), "input.email"},
		{"email with display name", valid(map[string]any{"email": "Ada <ada@example.com>"}), "input.email"},
		{"empty email", valid(map[string]any{"email": ""}), "input.email"},
		{"phone without country code", valid(map[string]any{"phone": "650 253 0000"}), "input.phone"},
		{"phone not a number", valid(map[string]any{"phone": "+not-a-number"}), "input.phone"},
		{"phone too short", valid(map[string]any{"phone": "+1 555"}), "input.phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.count(t)
			resp := post(t, e.url, registerMutation, map[string]any{"input": tt.input})
			err := resp.onlyError(t)
			if err.Extensions["code"] != "BAD_USER_INPUT" || err.Extensions["field"] != tt.field {
				t.Fatalf("error %+v, want BAD_USER_INPUT on %s", err, tt.field)
			}
			if string(resp.Data) != "null" {
				t.Fatalf("data %s, want null", resp.Data)
			}
			if after := e.count(t); after != before {
				t.Fatalf("users %d → %d: invalid input was stored", before, after)
			}
		})
	}
}

func testDuplicateEmail(t *testing.T, e *env) {
	first := e.register(t, map[string]any{"name": "First", "email": "dup@example.com"})
	before := e.count(t)
	resp := post(t, e.url, registerMutation, map[string]any{"input": map[string]any{"name": "Second", "email": " DUP@Example.com "}})
	err := resp.onlyError(t)
	if err.Extensions["code"] != "CONFLICT" || err.Extensions["field"] != "input.email" {
		t.Fatalf("error %+v, want CONFLICT on input.email", err)
	}
	if after := e.count(t); after != before {
		t.Fatalf("users %d → %d after a duplicate", before, after)
	}
	stored, qerr := e.client.User.Query().Where(user.Email("dup@example.com")).Only(t.Context())
	if qerr != nil || stored.ID != first.ID || stored.Name != "First" {
		t.Fatalf("stored %+v (%v), want the first registration untouched", stored, qerr)
	}
}

func testUnknownUser(t *testing.T, e *env) {
	const unknown = "00000000-0000-0000-0000-000000000000"
	if got := e.user(t, unknown); got != nil {
		t.Fatalf("user(unknown) = %+v, want null", got)
	}
	before := e.count(t)
	resp := post(t, e.url, updateMutation, map[string]any{"id": unknown, "input": map[string]any{"sms": true}})
	if err := resp.onlyError(t); err.Extensions["code"] != "NOT_FOUND" {
		t.Fatalf("error %+v, want NOT_FOUND", err)
	}
	if after := e.count(t); after != before {
		t.Fatalf("users %d → %d after updating an unknown user", before, after)
	}
}

func testServiceSDL(t *testing.T, e *env) {
	var out struct {
		Service struct{ SDL string } `json:"_service"`
	}
	post(t, e.url, `{ _service { sdl } }`, nil).data(t, &out)
	contract, err := os.ReadFile(filepath.Join("..", "..", "schema", "users.graphqls"))
	if err != nil {
		t.Fatal(err)
	}
	// The router composes from this SDL: it must carry the contract's
	// federation link and entity key, and every type the contract declares.
	for _, want := range []string{
		`@link(url: "https://specs.apollo.dev/federation/v2.5"`,
		`type User @key(fields: "id")`,
		"registerUser(input: RegisterUserInput!): User!",
		"updateUser(id: ID!, input: UpdateUserInput!): UpdateUserPayload!",
		"deleteUser(id: ID!): DeleteUserPayload!",
		"users(first: Int, after: String): UserConnection!",
		"notificationPolicy(userId: ID!, category: NotificationCategory!, at: Time): NotificationPolicy!",
		"signingSecret: String @inaccessible",
		"type PageInfo @shareable",
		"updateNotificationPreferences(userId: ID!, input: NotificationPreferencesInput!): User!",
	} {
		if !strings.Contains(out.Service.SDL, want) {
			t.Errorf("_service.sdl lacks %q:\n%s", want, out.Service.SDL)
		}
		if !strings.Contains(string(contract), want) {
			t.Errorf("test expectation %q is not in schema/users.graphqls", want)
		}
	}
}

func testEntities(t *testing.T, e *env) {
	u := e.register(t, map[string]any{"name": "Entity", "email": "entity@example.com", "phone": "+4915123456789"})
	const q = `query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on User { id email phone preferences { email sms } } } }`
	reps := []map[string]any{
		{"__typename": "User", "id": u.ID},
		{"__typename": "User", "id": "no-such-user"},
	}
	var out struct {
		Entities []*struct {
			Typename string `json:"__typename"`
			apiUser
		} `json:"_entities"`
	}
	post(t, e.url, q, map[string]any{"r": reps}).data(t, &out)
	if len(out.Entities) != 2 {
		t.Fatalf("got %d entities, want 2", len(out.Entities))
	}
	got := out.Entities[0]
	if got == nil || got.Typename != "User" || got.ID != u.ID || got.Email != "entity@example.com" ||
		got.Phone == nil || *got.Phone != "+4915123456789" || !got.Preferences.Email {
		t.Fatalf("entity %+v, want %+v", got, u)
	}
	if out.Entities[1] != nil {
		t.Fatalf("unknown entity resolved to %+v, want null", out.Entities[1])
	}
}

// TestRun starts the service the way main does and checks it serves, is
// healthy, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	cfg := users.Config{HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "run", "users.db")}}
	s := startRun(t, cfg, users.Deps{})
	url := s.URL()

	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz status %d", resp.StatusCode)
	}
	e := &env{url: url}
	u := e.register(t, map[string]any{"name": "Run", "email": "run@example.com"})
	if got := e.user(t, u.ID); got == nil || got.Email != "run@example.com" {
		t.Fatalf("read back %+v", got)
	}
	// GET serves queries too (and gqlgen refuses mutations over GET).
	resp, err = http.Get(url + "/graphql?query=%7B__typename%7D")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /graphql status %d", resp.StatusCode)
	}

	s.Stop(t) // Run must return nil
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still answering after Run returned")
	}
}

func TestRunRefusesUnusableDatabase(t *testing.T) {
	// A file where the database's folder should be.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := users.Config{HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(blocker, "users.db")}}
	if err := users.Run(t.Context(), cfg, users.Deps{}); err == nil {
		t.Fatal("Run succeeded on an unusable database path")
	}
}

func TestHealthzReportsDatabaseDown(t *testing.T) {
	d, err := db.Open(t.Context(), db.SQLite, filepath.Join(t.TempDir(), "down.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Close() // every ping now fails
	srv := httptest.NewServer(identity.Middleware(users.NewHandler(nil, d, testLogger(t), users.Options{})))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/healthz status %d with the database down, want 503", resp.StatusCode)
	}
}
