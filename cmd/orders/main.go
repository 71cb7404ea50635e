// Command orders runs the orders subgraph and its outbox relay.
// Configuration comes from environment variables; run with --help to list them.
//
//	orders            serve (applies pending migrations first unless HERALD_DB_MIGRATE=off)
//	orders migrate    apply pending database migrations and exit (a release step)
package main

import (
	"context"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/subgraphs/orders"
)

func main() { service.Main(cmd) }

var cmd = service.Command{
	Name:    "orders",
	Summary: "the Herald orders subgraph (GraphQL federation v2) and its outbox relay",
	Stream:  true,
	Load: func(v *config.Vars) service.Plan {
		cfg := orders.LoadConfig(v)
		return service.Plan{
			Database:  cfg.DB,
			ListenErr: gqlserver.CheckListen(cfg.HTTPAddr, cfg.SubgraphSecret, cfg.Edge),
			Serve: func(ctx context.Context, rt service.Runtime) error {
				return orders.Run(ctx, cfg, orders.Deps{Logger: rt.Logger, Broker: rt.Broker})
			},
		}
	},
}
