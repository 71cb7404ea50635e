package main

import (
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRun(t *testing.T) {
	servicetest.Run(t, cmd.Run, []servicetest.Case{servicetest.AllProblems(map[string]string{
		"HERALD_DB_DRIVER": "mysql", "HERALD_USERS_URL": "localhost:4001", "HERALD_OUTBOX_POLL_INTERVAL": "soon", "HERALD_STREAM": "carrier-pigeon",
	})})
	servicetest.Run(t, cmd.Run, servicetest.SubgraphCases(":4002"))
	servicetest.Run(t, cmd.Run, servicetest.DatabaseCases("orders"))
	servicetest.Run(t, cmd.Run, servicetest.Lifecycle(t, "orders", servicetest.Serving(t), `"msg":"http listening"`))
}
