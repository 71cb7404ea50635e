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

// cancelOnWrite ends a context once the output shows the server listening:
// readiness from the log instead of a sleep.
type cancelOnWrite struct {
	mu     sync.Mutex
	b      strings.Builder
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), `"msg":"http listening"`) {
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
	dir := t.TempDir()
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
			wantOut: []string{"HERALD_LOG_LEVEL", "HERALD_HTTP_ADDR", ":4002", "HERALD_DB_DRIVER", "HERALD_DB_DSN",
				".run/orders.db", "HERALD_USERS_URL", "http://127.0.0.1:4001/graphql", "HERALD_TOPIC_ORDER_CREATED",
				"HERALD_OUTBOX_POLL_INTERVAL", "500ms", "HERALD_STREAM",
				"HERALD_DB_MIGRATE", "HERALD_TOPIC_ORDER_CANCELLED", "orders migrate"},
		},
		{
			name: "all problems reported together",
			ctx:  t.Context(),
			env: map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_DB_DRIVER": "mysql",
				"HERALD_USERS_URL": "localhost:4001", "HERALD_OUTBOX_POLL_INTERVAL": "soon", "HERALD_STREAM": "carrier-pigeon"},
			wantCode: 2,
			wantOut:  []string{"HERALD_LOG_LEVEL", "HERALD_DB_DRIVER", "HERALD_USERS_URL", "HERALD_OUTBOX_POLL_INTERVAL", "HERALD_STREAM"},
		},
		{
			name:     "postgres needs a DSN",
			ctx:      t.Context(),
			env:      map[string]string{"HERALD_DB_DRIVER": "postgres"},
			wantCode: 2,
			wantOut:  []string{"HERALD_DB_DSN"},
		},
		{
			name:     "--check-config accepts a valid environment",
			ctx:      t.Context(),
			args:     []string{"--check-config"},
			env:      map[string]string{"HERALD_HTTP_ADDR": ":4002", "HERALD_SUBGRAPH_SECRET": "a-secret-of-16-chars-or-more"},
			wantCode: 0,
			wantOut:  []string{"configuration is valid"},
		},
		{
			name:     "--check-config reports every problem",
			ctx:      t.Context(),
			args:     []string{"--check-config"},
			env:      map[string]string{"HERALD_HTTP_ADDR": ":4002", "HERALD_DB_DRIVER": "postgres"},
			wantCode: 2,
			wantOut:  []string{"HERALD_DB_DSN", "HERALD_HTTP_ADDR", "without HERALD_SUBGRAPH_SECRET"},
		},
		{
			name:     "migrate --check-config opens no database",
			ctx:      t.Context(),
			args:     []string{"migrate", "--check-config"},
			env:      map[string]string{"HERALD_DB_DRIVER": "postgres", "HERALD_DB_DSN": "postgres://herald@127.0.0.1:1/orders"},
			wantCode: 0,
			wantOut:  []string{"configuration is valid"},
		},
		{
			name:     "unknown arguments",
			ctx:      t.Context(),
			args:     []string{"migrate", "down"},
			wantCode: 2,
			wantOut:  []string{"unknown arguments"},
		},
		{
			name: "with migrations off an empty database is refused",
			ctx:  t.Context(),
			env: map[string]string{
				"HERALD_DB_MIGRATE": "off", "HERALD_HTTP_ADDR": "127.0.0.1:0", "HERALD_DB_DSN": filepath.Join(dir, "empty.db"),
				"HERALD_STREAM": "nats", "HERALD_NATS_EMBEDDED_DIR": filepath.Join(dir, "nats0"), "HERALD_NATS_URL": "nats://127.0.0.1:0",
			},
			wantCode: 1,
			wantOut:  []string{"version 0, the code needs 1", "run the migrate subcommand"},
		},
		{
			name:     "migrate applies the migrations and exits",
			ctx:      t.Context(),
			args:     []string{"migrate"},
			env:      map[string]string{"HERALD_DB_DSN": filepath.Join(dir, "orders.db")},
			wantCode: 0,
			wantOut:  []string{`"msg":"database migrated"`, `"msg":"database schema is current"`},
		},
		{
			// The database migrated above: with migrations off it serves.
			name: "serves until the context ends",
			ctx:  serving,
			env: map[string]string{
				"HERALD_DB_MIGRATE": "off",
				"HERALD_HTTP_ADDR":  "127.0.0.1:0", "HERALD_DB_DSN": filepath.Join(dir, "orders.db"),
				"HERALD_STREAM": "nats", "HERALD_NATS_EMBEDDED_DIR": filepath.Join(dir, "nats"), "HERALD_NATS_URL": "nats://127.0.0.1:0",
			},
			wantCode: 0,
			wantOut:  []string{`"msg":"http listening"`, `"service":"orders"`, `"msg":"orders stopped cleanly"`},
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
