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
				"HERALD_USERS_URL": "localhost:4001", "HERALD_OUTBOX_POLL_INTERVAL": "soon", "HERALD_STREAM": "carrier-pigeon"},
			Code: 2,
			Out:  []string{"HERALD_LOG_LEVEL", "HERALD_DB_DRIVER", "HERALD_USERS_URL", "HERALD_OUTBOX_POLL_INTERVAL", "HERALD_STREAM"},
		},
	})
	servicetest.Run(t, cmd.Run, servicetest.SubgraphCases(":4002"))
	servicetest.Run(t, cmd.Run, servicetest.DatabaseCases("orders"))
	servicetest.Run(t, cmd.Run, servicetest.Lifecycle(t, "orders", map[string]string{
		"HERALD_HTTP_ADDR": "127.0.0.1:0",
		"HERALD_STREAM":    "nats", "HERALD_NATS_EMBEDDED_DIR": t.TempDir(), "HERALD_NATS_URL": "nats://127.0.0.1:0",
	}, `"msg":"http listening"`))
}
