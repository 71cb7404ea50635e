package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// cancelOnWrite ends a context once the output shows the service ready (it
// listens from the start, and is ready once its database is reached):
// readiness from the log instead of a sleep.
// It is written by the service's goroutines (the consumer logs from its
// own) and read by the test, hence the mutex.
type cancelOnWrite struct {
	mu     sync.Mutex
	b      strings.Builder
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), `"msg":"users ready"`) {
		w.cancel()
	}
	return n, err
}

func (w *cancelOnWrite) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestRun(t *testing.T) {
	serving, cancel := context.WithCancel(t.Context())
	defer cancel()
	dsn := filepath.Join(t.TempDir(), "users.db")
	tests := []struct {
		name     string
		ctx      context.Context
		args     []string
		env      map[string]string
		wantCode int
		wantOut  []string
	}{
		{
			name:     "help lists every variable",
			ctx:      t.Context(),
			args:     []string{"--help"},
			wantCode: 0,
			wantOut: []string{"HERALD_LOG_LEVEL", "HERALD_HTTP_ADDR", ":4001", "HERALD_DB_DRIVER", "HERALD_DB_DSN", ".run/users.db",
				"HERALD_DB_MIGRATE", "HERALD_TOPIC_ORDER_CREATED", "HERALD_USERS_GROUP", "herald-users", "HERALD_STREAM",
				"HERALD_ALLOW_HTTP_WEBHOOKS_LOOPBACK", "HERALD_USERS_SECRET_KEY", "HERALD_CRITICAL_CATEGORIES", "users migrate"},
		},
		{
			name:     "all problems reported together",
			ctx:      t.Context(),
			env:      map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_DB_DRIVER": "mysql"},
			wantCode: 2,
			wantOut:  []string{"HERALD_LOG_LEVEL", "HERALD_DB_DRIVER"},
		},
		{
			name:     "postgres needs a DSN",
			ctx:      t.Context(),
			env:      map[string]string{"HERALD_DB_DRIVER": "postgres"},
			wantCode: 2,
			wantOut:  []string{"HERALD_DB_DSN"},
		},
		{
			name:     "bad values reported together",
			ctx:      t.Context(),
			env:      map[string]string{"HERALD_DB_MIGRATE": "sometimes", "HERALD_CRITICAL_CATEGORIES": "SPAM", "HERALD_USERS_SECRET_KEY": "short"},
			wantCode: 2,
			wantOut:  []string{"HERALD_DB_MIGRATE", "HERALD_CRITICAL_CATEGORIES", "HERALD_USERS_SECRET_KEY"},
		},
		{
			name:     "--check-config accepts a valid environment",
			ctx:      t.Context(),
			args:     []string{"--check-config"},
			env:      map[string]string{"HERALD_HTTP_ADDR": ":4001", "HERALD_SUBGRAPH_SECRET": "a-secret-of-16-chars-or-more"},
			wantCode: 0,
			wantOut:  []string{"configuration is valid"},
		},
		{
			name:     "--check-config reports every problem",
			ctx:      t.Context(),
			args:     []string{"--check-config"},
			env:      map[string]string{"HERALD_HTTP_ADDR": ":4001", "HERALD_DB_DRIVER": "postgres"},
			wantCode: 2,
			wantOut:  []string{"HERALD_DB_DSN", "HERALD_HTTP_ADDR", "without HERALD_SUBGRAPH_SECRET"},
		},
		{
			name:     "migrate --check-config opens no database",
			ctx:      t.Context(),
			args:     []string{"migrate", "--check-config"},
			env:      map[string]string{"HERALD_DB_DRIVER": "postgres", "HERALD_DB_DSN": "postgres://herald@127.0.0.1:1/users"},
			wantCode: 0,
			wantOut:  []string{"configuration is valid"},
		},
		{
			name:     "unknown subcommand",
			ctx:      t.Context(),
			args:     []string{"migrat"},
			wantCode: 2,
			wantOut:  []string{"unknown arguments"},
		},
		{
			name:     "off refuses an unmigrated database",
			ctx:      t.Context(),
			env:      map[string]string{"HERALD_HTTP_ADDR": "127.0.0.1:0", "HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off", "HERALD_USERS_CONSUMER": "false"},
			wantCode: 1,
			wantOut:  []string{"run the migrate subcommand"},
		},
		{
			name:     "migrate subcommand",
			ctx:      t.Context(),
			args:     []string{"migrate"},
			env:      map[string]string{"HERALD_DB_DSN": dsn},
			wantCode: 0,
			wantOut:  []string{`"msg":"database migrated"`, `"applied_versions":[1]`, `"msg":"database schema is current"`},
		},
		{
			name: "serves until the context ends, counting orders from embedded NATS",
			ctx:  serving,
			env: map[string]string{"HERALD_HTTP_ADDR": "127.0.0.1:0", "HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off",
				"HERALD_STREAM": "nats", "HERALD_NATS_URL": "nats://127.0.0.1:0", "HERALD_NATS_EMBEDDED_DIR": t.TempDir()},
			wantCode: 0,
			wantOut:  []string{`"msg":"counting orders"`, `"group":"herald-users"`, `"msg":"http listening"`, `"service":"users"`, `"msg":"users stopped cleanly"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &cancelOnWrite{cancel: cancel}
			if code := run(tt.ctx, tt.args, env(tt.env), out); code != tt.wantCode {
				t.Fatalf("run() = %d, want %d; output:\n%s", code, tt.wantCode, out.String())
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
