package main

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRun(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "users.db")
	servicetest.Run(t, cmd.Run, []servicetest.Case{
		{
			Name: "all problems reported together",
			Env:  map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_DB_DRIVER": "mysql"},
			Code: 2,
			Out:  []string{"HERALD_LOG_LEVEL", "HERALD_DB_DRIVER"},
		},
		{
			Name: "postgres needs a DSN",
			Env:  map[string]string{"HERALD_DB_DRIVER": "postgres"},
			Code: 2,
			Out:  []string{"HERALD_DB_DSN"},
		},
		{
			Name: "bad values reported together",
			Env:  map[string]string{"HERALD_DB_MIGRATE": "sometimes", "HERALD_CRITICAL_CATEGORIES": "SPAM", "HERALD_USERS_SECRET_KEY": "short"},
			Code: 2,
			Out:  []string{"HERALD_DB_MIGRATE", "HERALD_CRITICAL_CATEGORIES", "HERALD_USERS_SECRET_KEY"},
		},
		{
			Name: "--check-config accepts a valid environment",
			Args: []string{"--check-config"},
			Env:  map[string]string{"HERALD_HTTP_ADDR": ":4001", "HERALD_SUBGRAPH_SECRET": "a-secret-of-16-chars-or-more"},
			Code: 0,
			Out:  []string{"configuration is valid"},
		},
		{
			Name: "--check-config reports every problem",
			Args: []string{"--check-config"},
			Env:  map[string]string{"HERALD_HTTP_ADDR": ":4001", "HERALD_DB_DRIVER": "postgres"},
			Code: 2,
			Out:  []string{"HERALD_DB_DSN", "HERALD_HTTP_ADDR", "without HERALD_SUBGRAPH_SECRET"},
		},
		{
			Name: "migrate --check-config opens no database",
			Args: []string{"migrate", "--check-config"},
			Env:  map[string]string{"HERALD_DB_DRIVER": "postgres", "HERALD_DB_DSN": "postgres://herald@127.0.0.1:1/users"},
			Code: 0,
			Out:  []string{"configuration is valid"},
		},
		{
			Name: "unknown subcommand",
			Args: []string{"migrat"},
			Code: 2,
			Out:  []string{"unknown arguments"},
		},
		{
			Name: "off refuses an unmigrated database",
			Env:  map[string]string{"HERALD_HTTP_ADDR": "127.0.0.1:0", "HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off", "HERALD_USERS_CONSUMER": "false"},
			Code: 1,
			Out:  []string{"run the migrate subcommand"},
		},
		{
			Name: "migrate subcommand",
			Args: []string{"migrate"},
			Env:  map[string]string{"HERALD_DB_DSN": dsn},
			Code: 0,
			Out:  []string{`"msg":"database migrated"`, `"applied_versions":[1]`, `"msg":"database schema is current"`},
		},
		{
			Name:  "serves until the context ends, counting orders from embedded NATS",
			Until: `"msg":"users ready"`,
			Env: map[string]string{"HERALD_HTTP_ADDR": "127.0.0.1:0", "HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off",
				"HERALD_STREAM": "nats", "HERALD_NATS_URL": "nats://127.0.0.1:0", "HERALD_NATS_EMBEDDED_DIR": t.TempDir()},
			Code: 0,
			Out:  []string{`"msg":"counting orders"`, `"group":"herald-users"`, `"msg":"http listening"`, `"service":"users"`, `"msg":"users stopped cleanly"`},
		},
	})
}
