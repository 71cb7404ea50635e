// Package ent_test checks every service's versioned migrations
// (ent/<service>/migrations) against that service's ent schema, on SQLite
// and on PostgreSQL, in one table: a new service adds a row.
package ent_test

import (
	"context"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	notifiermigrations "github.com/heraldhq/herald/ent/notifier/migrations"
	entorders "github.com/heraldhq/herald/ent/orders"
	ordersmigrations "github.com/heraldhq/herald/ent/orders/migrations"
	entusers "github.com/heraldhq/herald/ent/users"
	usersmigrations "github.com/heraldhq/herald/ent/users/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/migrate/migratetest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The dry runs write what each service's ent client would still change.
func notifierDryRun(ctx context.Context, d *db.DB, w io.Writer) error {
	return entnotifier.NewClient(entnotifier.Driver(d.Driver)).Schema.WriteTo(ctx, w)
}

func ordersDryRun(ctx context.Context, d *db.DB, w io.Writer) error {
	return entorders.NewClient(entorders.Driver(d.Driver)).Schema.WriteTo(ctx, w)
}

func usersDryRun(ctx context.Context, d *db.DB, w io.Writer) error {
	return entusers.NewClient(entusers.Driver(d.Driver)).Schema.WriteTo(ctx, w)
}

// TestMigrationsMatchEntSchema runs each service's migrations against its
// own ent schema (migratetest.MatchesEnt, per driver). To check one
// service: go test ./ent -run 'TestMigrationsMatchEntSchema/orders'.
func TestMigrationsMatchEntSchema(t *testing.T) {
	for _, s := range []struct {
		set    migrate.Set
		dryRun migratetest.DryRun
	}{
		{notifiermigrations.Set, notifierDryRun},
		{ordersmigrations.Set, ordersDryRun},
		{usersmigrations.Set, usersDryRun},
	} {
		t.Run(s.set.Service, func(t *testing.T) { migratetest.MatchesEnt(t, s.set, s.dryRun) })
	}
}

// TestNotifierAdoptsAutoMigratedDatabase: before versioned migrations the
// notifier let ent create its tables. Such a database (the baseline tables,
// no goose version table) is adopted: version 1 finds its tables in place
// and the later versions bring it up to date.
func TestNotifierAdoptsAutoMigratedDatabase(t *testing.T) {
	for _, driver := range migratetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := t.Context()
			d := migratetest.Open(t, driver)
			fsys, err := notifiermigrations.Set.FS(driver)
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
			migratetest.NoDrift(t, d, notifierDryRun)
			var n int
			if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM inbox_events WHERE event_id = 'kept'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("existing rows after migrating: %d (%v), want 1", n, err)
			}
		})
	}
}
