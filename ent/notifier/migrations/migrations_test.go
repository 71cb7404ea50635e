package migrations_test

import (
	"context"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/migrate/migratetest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func dryRun(ctx context.Context, d *db.DB, w io.Writer) error {
	return entnotifier.NewClient(entnotifier.Driver(d.Driver)).Schema.WriteTo(ctx, w)
}

func TestMigrationsMatchEntSchema(t *testing.T) { migratetest.MatchesEnt(t, migrations.Set, dryRun) }

// TestAdoptsAutoMigratedDatabase: before versioned migrations the notifier
// let ent create its tables. Such a database (the baseline tables, no goose
// version table) is adopted: version 1 finds its tables in place and the
// later versions bring it up to date.
func TestAdoptsAutoMigratedDatabase(t *testing.T) {
	for _, driver := range migratetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := t.Context()
			d := migratetest.Open(t, driver)
			fsys, err := migrations.FS(driver)
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
			if err := migrate.Up(ctx, d.SQL, driver, old, migrate.WithTable("pre_versioning")); err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL.ExecContext(ctx, `INSERT INTO inbox_events (event_id, topic, received_at) VALUES ('kept', 'OrderCreated', CURRENT_TIMESTAMP)`); err != nil {
				t.Fatal(err)
			}
			applied, err := migrate.Apply(ctx, d.SQL, driver, fsys)
			if err != nil {
				t.Fatalf("migrate an auto-migrated database: %v", err)
			}
			if len(applied) < 2 || applied[0] != 1 {
				t.Fatalf("applied %v, want every version from 1", applied)
			}
			migratetest.NoDrift(t, d, dryRun)
			var n int
			if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM inbox_events WHERE event_id = 'kept'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("existing rows after migrating: %d (%v), want 1", n, err)
			}
		})
	}
}
