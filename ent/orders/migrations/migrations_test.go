package migrations_test

import (
	"path/filepath"
	"strings"
	"testing"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/ent/orders/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestMigrationsMatchEntSchema applies the migrations to an empty database
// and asks ent what it would still change (a dry run): nothing, or the
// migrations and the ent schema have drifted apart. The failure message is
// the DDL a new migration needs.
func TestMigrationsMatchEntSchema(t *testing.T) {
	tests := []struct {
		driver string
		dsn    func(t *testing.T) string
	}{
		{db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "orders.db") }},
		{db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.driver, func(t *testing.T) {
			ctx := t.Context()
			d, err := db.Open(ctx, tt.driver, tt.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			fsys, err := migrations.FS(tt.driver)
			if err != nil {
				t.Fatal(err)
			}
			applied, err := migrate.Apply(ctx, d.SQL, tt.driver, fsys)
			if err != nil {
				t.Fatalf("migrate empty database: %v", err)
			}
			if len(applied) == 0 || applied[0] != 1 {
				t.Fatalf("applied %v, want every version from 1", applied)
			}
			var ddl strings.Builder
			if err := entorders.NewClient(entorders.Driver(d.Driver)).Schema.WriteTo(ctx, &ddl); err != nil {
				t.Fatalf("ent dry run: %v", err)
			}
			if pending := changes(ddl.String()); len(pending) > 0 {
				t.Fatalf("ent would still change the migrated %s schema; add a migration with:\n%s",
					tt.driver, strings.Join(pending, "\n"))
			}
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
