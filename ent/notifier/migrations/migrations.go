// Package migrations holds the notifier's versioned SQL migrations, one
// folder of goose files per dialect, embedded in the binary and applied by
// internal/migrate (through internal/service: at start-up with
// HERALD_DB_MIGRATE=auto, or by `notifier migrate`).
//
// To change the schema: edit ent/notifier/schema, run `go generate ./ent/notifier`,
// then add the next numbered file to both folders. `go test ./ent -run
// TestMigrationsMatchEntSchema/notifier` (ent/migrations_test.go) fails until
// the files match the ent schema and prints the statements still missing,
// per dialect.
package migrations

import (
	"embed"

	"github.com/heraldhq/herald/internal/migrate"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Set is the notifier service's migrations.
var Set = migrate.Set{Service: "notifier", Files: files}
