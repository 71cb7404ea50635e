// Package migratetest checks a service's embedded migrations against its ent
// schema, on SQLite and on PostgreSQL: the one test ent/migrations_test.go
// runs for every service's migrations.Set.
package migratetest

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/testenv"
)

// Drivers are the databases a service's migrations are tested on.
var Drivers = []string{db.SQLite, db.Postgres}

// DryRun writes the statements ent would still run to bring d's database to
// its schema (an ent client's Schema.WriteTo).
type DryRun func(ctx context.Context, d *db.DB, w io.Writer) error

// DSN names an empty database of driver for the test: an SQLite file in a
// temporary folder, or a PostgreSQL database of testenv.
func DSN(t *testing.T, driver string) string {
	t.Helper()
	if driver == db.Postgres {
		return testenv.Postgres(t)
	}
	return filepath.Join(t.TempDir(), "migratetest.db")
}

// Open returns an empty database of driver (DSN), closed when the test ends.
func Open(t *testing.T, driver string) *db.DB {
	t.Helper()
	d, err := db.Open(t.Context(), driver, DSN(t, driver))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// MatchesEnt applies set to an empty database of each driver and asks ent
// what it would still change (a dry run): nothing, or the migrations and the
// ent schema have drifted apart, and the failure message is the DDL a new
// migration needs. It also checks that an empty database is refused as not
// current and that applying again changes nothing.
func MatchesEnt(t *testing.T, set migrate.Set, dryRun DryRun) {
	for _, driver := range Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := t.Context()
			d := Open(t, driver)
			fsys, err := set.FS(driver)
			if err != nil {
				t.Fatal(err)
			}
			if err := migrate.RequireCurrent(ctx, d.SQL, driver, fsys); err == nil {
				t.Fatal("RequireCurrent on an empty database succeeded, want a pending-migrations error")
			}
			applied, err := migrate.Apply(ctx, d.SQL, driver, fsys)
			if err != nil {
				t.Fatalf("migrate empty database: %v", err)
			}
			if len(applied) == 0 || applied[0] != 1 {
				t.Fatalf("applied %v, want every version from 1", applied)
			}
			NoDrift(t, d, dryRun)
			// Applying again finds nothing to do and changes nothing.
			again, err := migrate.Apply(ctx, d.SQL, driver, fsys)
			if err != nil || len(again) != 0 {
				t.Fatalf("second run applied %v (%v), want nothing", again, err)
			}
			if err := migrate.RequireCurrent(ctx, d.SQL, driver, fsys); err != nil {
				t.Fatalf("RequireCurrent after Up: %v", err)
			}
		})
	}
}

// NoDrift fails the test when ent would still change d's schema.
func NoDrift(t *testing.T, d *db.DB, dryRun DryRun) {
	t.Helper()
	var ddl strings.Builder
	if err := dryRun(t.Context(), d, &ddl); err != nil {
		t.Fatalf("ent dry run: %v", err)
	}
	if pending := changes(ddl.String()); len(pending) > 0 {
		t.Fatalf("ent would still change the migrated %s schema; add a migration with:\n%s",
			d.Dialect, strings.Join(pending, "\n"))
	}
}

// changes returns the statements of an ent dry run that change something:
// ent wraps even an empty plan in transaction and SQLite pragma lines.
func changes(ddl string) []string {
	var out []string
	for line := range strings.SplitSeq(ddl, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", line == "BEGIN;", line == "COMMIT;",
			strings.HasPrefix(line, "PRAGMA foreign_keys"):
			continue
		}
		out = append(out, line)
	}
	return out
}
