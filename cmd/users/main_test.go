package main

import (
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRun(t *testing.T) {
	servicetest.Run(t, cmd.Run, []servicetest.Case{
		{
			Name: "all problems reported together",
			Env: map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_DB_DRIVER": "mysql",
				"HERALD_CRITICAL_CATEGORIES": "SPAM", "HERALD_USERS_SECRET_KEY": "short"},
			Code: 2,
			Out:  []string{"HERALD_LOG_LEVEL", "HERALD_DB_DRIVER", "HERALD_CRITICAL_CATEGORIES", "HERALD_USERS_SECRET_KEY"},
		},
		{
			Name: "unknown subcommand",
			Args: []string{"migrat"},
			Code: 2,
			Out:  []string{"unknown arguments"},
		},
	})
	servicetest.Run(t, cmd.Run, servicetest.SubgraphCases(":4001"))
	servicetest.Run(t, cmd.Run, servicetest.DatabaseCases("users"))
	// It counts orders from embedded NATS while it serves.
	servicetest.Run(t, cmd.Run, servicetest.Lifecycle(t, "users", map[string]string{
		"HERALD_HTTP_ADDR": "127.0.0.1:0",
		"HERALD_STREAM":    "nats", "HERALD_NATS_URL": "nats://127.0.0.1:0", "HERALD_NATS_EMBEDDED_DIR": t.TempDir(),
	}, `"msg":"users ready"`, `"msg":"counting orders"`, `"group":"herald-users"`, `"msg":"http listening"`))
}
