// Command users runs the users subgraph and its OrderCreated counter.
// Configuration comes from environment variables; run with --help to list
// them.
//
//	users            serve (applies pending migrations first unless HERALD_DB_MIGRATE=off)
//	users migrate    apply pending database migrations and exit (a release step)
package main

import (
	"context"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/subgraphs/users"
)

func main() { service.Main(cmd) }

var cmd = service.Command{
	Name:    "users",
	Summary: "the Herald users subgraph (GraphQL federation v2)",
	Stream:  true,
	Load: func(v *config.Vars) service.Plan {
		cfg := users.LoadConfig(v)
		consume := v.Bool("HERALD_USERS_CONSUMER", true,
			"count orders from the OrderCreated topic (needs the stream backend below)")
		return service.Plan{
			Database:      cfg.DB,
			ListenErr:     gqlserver.CheckListen(cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge),
			WithoutBroker: !consume,
			Serve: func(ctx context.Context, rt service.Runtime) error {
				return users.Run(ctx, cfg, users.Deps{Logger: rt.Logger, Broker: rt.Broker})
			},
		}
	},
}
