// Package users is the users subgraph: people, their contact details and
// their notification preferences, served as an Apollo Federation v2 subgraph
// over the service's own database.
package users

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/subgraphs/users/generated"
)

const defaultDSN = ".run/users.db"

// Config is the users service's configuration.
type Config struct {
	HTTPAddr string
	DBDriver string
	DBDSN    string
}

// LoadConfig declares and reads the service's environment variables.
// Problems are recorded in v; check v.Err() once every part has loaded.
func LoadConfig(v *config.Vars) Config {
	cfg := Config{
		HTTPAddr: v.String("HERALD_HTTP_ADDR", ":4001", "address the users subgraph listens on"),
		DBDriver: v.Enum("HERALD_DB_DRIVER", db.SQLite, "users database driver", db.SQLite, db.Postgres),
		DBDSN: v.Required("HERALD_DB_DSN", defaultDSN,
			"users database: an SQLite file path or a PostgreSQL DSN"),
	}
	v.Check(cfg.DBDriver != db.Postgres || cfg.DBDSN != defaultDSN,
		"HERALD_DB_DSN: must be a PostgreSQL DSN when HERALD_DB_DRIVER=%s", db.Postgres)
	return cfg
}

// Deps holds what the caller constructs and passes in.
type Deps struct {
	Logger *slog.Logger
	// Ready, when set, receives the bound HTTP address once requests are
	// accepted (the address matters when HTTPAddr ends in ":0").
	Ready func(net.Addr)
}

// Run opens the database, brings its schema up to date and serves
// GraphQL on /graphql and health on /healthz until ctx ends, then drains
// requests in flight and closes the database.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d, err := db.Open(ctx, cfg.DBDriver, cfg.DBDSN)
	if err != nil {
		return fmt.Errorf("users: open database: %w", err)
	}
	defer d.Close()
	client := entusers.NewClient(entusers.Driver(d.Driver))
	// Auto-migration for now; versioned migrations replace it later.
	if err := client.Schema.Create(ctx); err != nil {
		return fmt.Errorf("users: migrate database: %w", err)
	}
	h := NewHandler(client, d.Ping, logger)
	if err := httpserver.Serve(ctx, logger, cfg.HTTPAddr, h, deps.Ready); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// NewHandler serves the subgraph over client: GET and POST /graphql, and
// GET /healthz running ping.
func NewHandler(client *entusers.Client, ping func(context.Context) error, logger *slog.Logger) http.Handler {
	es := generated.NewExecutableSchema(generated.Config{
		Resolvers: &Resolver{Client: client, Logger: logger},
	})
	gql := gqlserver.New(es, logger)
	mux := http.NewServeMux()
	mux.Handle("GET /graphql", gql)
	mux.Handle("POST /graphql", gql)
	mux.Handle("GET /healthz", httpserver.Health(map[string]func(context.Context) error{"database": ping}))
	return mux
}
