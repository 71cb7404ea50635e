package main

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	servicetest.Run(t, cmd.Run, []servicetest.Case{
		{
			Name: "all problems reported together",
			Env: map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_DB_DRIVER": "mysql",
				"HERALD_USERS_URL": "localhost:4001", "HERALD_OUTBOX_POLL_INTERVAL": "soon", "HERALD_STREAM": "carrier-pigeon"},
			Code: 2,
			Out:  []string{"HERALD_LOG_LEVEL", "HERALD_DB_DRIVER", "HERALD_USERS_URL", "HERALD_OUTBOX_POLL_INTERVAL", "HERALD_STREAM"},
		},
		{
			Name: "postgres needs a DSN",
			Env:  map[string]string{"HERALD_DB_DRIVER": "postgres"},
			Code: 2,
			Out:  []string{"HERALD_DB_DSN"},
		},
		{
			Name: "--check-config accepts a valid environment",
			Args: []string{"--check-config"},
			Env:  map[string]string{"HERALD_HTTP_ADDR": ":4002", "HERALD_SUBGRAPH_SECRET": "a-secret-of-16-chars-or-more"},
			Code: 0,
			Out:  []string{"configuration is valid"},
		},
		{
			Name: "--check-config reports every problem",
			Args: []string{"--check-config"},
			Env:  map[string]string{"HERALD_HTTP_ADDR": ":4002", "HERALD_DB_DRIVER": "postgres"},
			Code: 2,
			Out:  []string{"HERALD_DB_DSN", "HERALD_HTTP_ADDR", "without HERALD_SUBGRAPH_SECRET"},
		},
		{
			Name: "migrate --check-config opens no database",
			Args: []string{"migrate", "--check-config"},
			Env:  map[string]string{"HERALD_DB_DRIVER": "postgres", "HERALD_DB_DSN": "postgres://herald@127.0.0.1:1/orders"},
			Code: 0,
			Out:  []string{"configuration is valid"},
		},
		{
			Name: "unknown arguments",
			Args: []string{"migrate", "down"},
			Code: 2,
			Out:  []string{"unknown arguments"},
		},
		{
			Name: "with migrations off an empty database is refused",
			Env: map[string]string{
				"HERALD_DB_MIGRATE": "off", "HERALD_HTTP_ADDR": "127.0.0.1:0", "HERALD_DB_DSN": filepath.Join(dir, "empty.db"),
				"HERALD_STREAM": "nats", "HERALD_NATS_EMBEDDED_DIR": filepath.Join(dir, "nats0"), "HERALD_NATS_URL": "nats://127.0.0.1:0",
			},
			Code: 1,
			Out:  []string{"version 0, the code needs 1", "run the migrate subcommand"},
		},
		{
			Name: "migrate applies the migrations and exits",
			Args: []string{"migrate"},
			Env:  map[string]string{"HERALD_DB_DSN": filepath.Join(dir, "orders.db")},
			Code: 0,
			Out:  []string{`"msg":"database migrated"`, `"msg":"database schema is current"`},
		},
		{
			// The database migrated above: with migrations off it serves.
			Name:  "serves until the context ends",
			Until: `"msg":"http listening"`,
			Env: map[string]string{
				"HERALD_DB_MIGRATE": "off",
				"HERALD_HTTP_ADDR":  "127.0.0.1:0", "HERALD_DB_DSN": filepath.Join(dir, "orders.db"),
				"HERALD_STREAM": "nats", "HERALD_NATS_EMBEDDED_DIR": filepath.Join(dir, "nats"), "HERALD_NATS_URL": "nats://127.0.0.1:0",
			},
			Code: 0,
			Out:  []string{`"msg":"http listening"`, `"service":"orders"`, `"msg":"orders stopped cleanly"`},
		},
	})
}
