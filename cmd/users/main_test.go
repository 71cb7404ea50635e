package main

import (
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRun(t *testing.T) {
	servicetest.Run(t, cmd.Run, []servicetest.Case{
		servicetest.AllProblems(map[string]string{
			"HERALD_DB_DRIVER": "mysql", "HERALD_CRITICAL_CATEGORIES": "SPAM", "HERALD_USERS_SECRET_KEY": "short",
		}),
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
	servicetest.Run(t, cmd.Run, servicetest.Lifecycle(t, "users", servicetest.Serving(t), `"msg":"users ready"`, `"msg":"counting orders"`, `"group":"herald-users"`, `"msg":"http listening"`))
}
