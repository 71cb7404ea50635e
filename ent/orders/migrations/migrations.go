// Package migrations holds the orders service's versioned SQL migrations,
// one folder of goose files per dialect, embedded in the binary and applied
// by internal/migrate (through internal/service: at start-up with
// HERALD_DB_MIGRATE=auto, or by `orders migrate`).
//
// To change the schema: edit ent/orders/schema, run `go generate ./ent/orders`,
// then add the next numbered file to both folders. `go test ./ent -run
// TestMigrationsMatchEntSchema/orders` (ent/migrations_test.go) fails until
// the files match the ent schema and prints the statements still missing,
// per dialect.
package migrations

import (
	"embed"

	"github.com/heraldhq/herald/internal/migrate"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Set is the orders service's migrations.
var Set = migrate.Set{Service: "orders", Files: files}
