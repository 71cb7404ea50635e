package migrations_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var databases = []struct {
	driver string
	dsn    func(t *testing.T) string
}{
	{db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "notifier.db") }},
	{db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
}

func open(t *testing.T, driver, dsn string) *db.DB {
	t.Helper()
	d, err := db.Open(t.Context(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// TestMigrationsMatchEntSchema applies the migrations to an empty database
// and asks ent what it would still change (a dry run): nothing, or the
// migrations and the ent schema have drifted apart. The failure message is
// the DDL a new migration needs.
func TestMigrationsMatchEntSchema(t *testing.T) {
	for _, tt := range databases {
		t.Run(tt.driver, func(t *testing.T) {
			ctx := t.Context()
			d := open(t, tt.driver, tt.dsn(t))
			fsys, err := migrations.FS(tt.driver)
			if err != nil {
				t.Fatal(err)
			}
			if err := migrate.RequireCurrent(ctx, d.SQL, tt.driver, fsys); err == nil {
				t.Fatal("RequireCurrent on an empty database succeeded, want a pending-migrations error")
			}
			applied, err := migrate.Apply(ctx, d.SQL, tt.driver, fsys)
			if err != nil {
				t.Fatalf("migrate empty database: %v", err)
			}
			if len(applied) < 2 || applied[0] != 1 {
				t.Fatalf("applied %v, want every version from 1", applied)
			}
			assertNoDrift(t, d)
			// Applying again finds nothing to do and changes nothing.
			again, err := migrate.Apply(ctx, d.SQL, tt.driver, fsys)
			if err != nil || len(again) != 0 {
				t.Fatalf("second run applied %v (%v), want nothing", again, err)
			}
			if err := migrate.RequireCurrent(ctx, d.SQL, tt.driver, fsys); err != nil {
				t.Fatalf("RequireCurrent after Up: %v", err)
			}
		})
	}
}

// TestAdoptsAutoMigratedDatabase: before versioned migrations the notifier
// let ent create its tables. Such a database (the baseline tables, no goose
// version table) is adopted: version 1 finds its tables in place and the
// later versions bring it up to date.
func TestAdoptsAutoMigratedDatabase(t *testing.T) {
	for _, tt := range databases {
		t.Run(tt.driver, func(t *testing.T) {
			ctx := t.Context()
			d := open(t, tt.driver, tt.dsn(t))
			fsys, err := migrations.FS(tt.driver)
			if err != nil {
				t.Fatal(err)
			}
			baseline, err := fs.ReadFile(fsys, "00001_baseline.sql")
			if err != nil {
				t.Fatal(err)
			}
			// Create the old tables without recording a version in the
			// notifier's version table, as ent's auto-migration left them.
			old := fstest.MapFS{"00001_baseline.sql": {Data: baseline}}
			if err := migrate.Up(ctx, d.SQL, tt.driver, old, migrate.WithTable("pre_versioning")); err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL.ExecContext(ctx, `INSERT INTO inbox_events (event_id, topic, received_at) VALUES ('kept', 'OrderCreated', CURRENT_TIMESTAMP)`); err != nil {
				t.Fatal(err)
			}
			applied, err := migrate.Apply(ctx, d.SQL, tt.driver, fsys)
			if err != nil {
				t.Fatalf("migrate an auto-migrated database: %v", err)
			}
			if len(applied) < 2 || applied[0] != 1 {
				t.Fatalf("applied %v, want every version from 1", applied)
			}
			assertNoDrift(t, d)
			var n int
			if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM inbox_events WHERE event_id = 'kept'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("existing rows after migrating: %d (%v), want 1", n, err)
			}
		})
	}
}

func assertNoDrift(t *testing.T, d *db.DB) {
	t.Helper()
	var ddl strings.Builder
	if err := entnotifier.NewClient(entnotifier.Driver(d.Driver)).Schema.WriteTo(t.Context(), &ddl); err != nil {
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
	for _, line := range strings.Split(ddl, "\n") {
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

func TestFS(t *testing.T) {
	for _, d := range []string{"postgres", "sqlite", "sqlite3"} {
		if _, err := migrations.FS(d); err != nil {
			t.Errorf("FS(%q): %v", d, err)
		}
	}
	if _, err := migrations.FS("mysql"); err == nil {
		t.Error("FS(mysql) succeeded, want an error")
	}
}
