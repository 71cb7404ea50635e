package migrate_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/migrate/migratetest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func file(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n")}
}

var v1 = fstest.MapFS{
	"00001_notes.sql": file("CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);", "DROP TABLE notes;"),
}

var v2 = fstest.MapFS{
	"00001_notes.sql": v1["00001_notes.sql"],
	"00002_tags.sql":  file("CREATE TABLE tags (id integer PRIMARY KEY);", "DROP TABLE tags;"),
}

// broken's second migration fails half-way: its first statement must be
// rolled back with it.
var broken = fstest.MapFS{
	"00001_notes.sql": v1["00001_notes.sql"],
	"00002_bad.sql":   file("CREATE TABLE half (id integer);\nSELECT * FROM no_such_table;", "DROP TABLE half;"),
}

func tableExists(t *testing.T, d *db.DB, name string) bool {
	t.Helper()
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
	if d.Dialect == "postgres" {
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	var n int
	if err := d.SQL.QueryRowContext(t.Context(), q, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestUp(t *testing.T) {
	for _, driver := range migratetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := t.Context()
			d := migratetest.Open(t, driver)
			if err := migrate.RequireCurrent(ctx, d.SQL, driver, v1); err == nil ||
				!strings.Contains(err.Error(), "version 0, the code needs 1") {
				t.Fatalf("RequireCurrent on an empty database: %v, want a pending-migrations error", err)
			}
			got, err := migrate.Apply(ctx, d.SQL, driver, v1)
			if err != nil || len(got) != 1 || got[0] != 1 {
				t.Fatalf("Apply v1 = %v, %v; want [1]", got, err)
			}
			if !tableExists(t, d, "notes") {
				t.Fatal("notes table missing after Up")
			}
			got, err = migrate.Apply(ctx, d.SQL, driver, v2)
			if err != nil || len(got) != 1 || got[0] != 2 {
				t.Fatalf("Apply v2 = %v, %v; want only [2]", got, err)
			}
			if err := migrate.Up(ctx, d.SQL, driver, v2); err != nil {
				t.Fatalf("Up on a current database: %v", err)
			}
			if err := migrate.RequireCurrent(ctx, d.SQL, driver, v2); err != nil {
				t.Fatalf("RequireCurrent: %v", err)
			}
			// An older build over a newer schema runs (rolling deployments);
			// Status shows the difference.
			if err := migrate.RequireCurrent(ctx, d.SQL, driver, v1); err != nil {
				t.Fatalf("RequireCurrent with older files: %v", err)
			}
			if v, err := migrate.Status(ctx, d.SQL, driver, v1); err != nil || v.Current != 2 || v.Latest != 1 || v.Pending() {
				t.Fatalf("Status with older files = %+v, %v", v, err)
			}
		})
	}
}

func TestFailedMigrationIsRolledBack(t *testing.T) {
	for _, driver := range migratetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := t.Context()
			d := migratetest.Open(t, driver)
			err := migrate.Up(ctx, d.SQL, driver, broken)
			if err == nil || !strings.Contains(err.Error(), "00002_bad.sql") {
				t.Fatalf("Up = %v, want an error naming 00002_bad.sql", err)
			}
			if !tableExists(t, d, "notes") || tableExists(t, d, "half") {
				t.Fatal("want version 1 applied and version 2 rolled back entirely")
			}
			v, err := migrate.Status(ctx, d.SQL, driver, broken)
			if err != nil || v.Current != 1 || v.Latest != 2 || !v.Pending() {
				t.Fatalf("Status = %+v, %v; want current 1 of 2", v, err)
			}
		})
	}
}

// TestConcurrentUp starts two migrators on one PostgreSQL database, as two
// replicas starting together would: the advisory lock makes them take turns,
// so both succeed and each migration runs once.
func TestConcurrentUp(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	results := make([][]int64, 2)
	errs := make([]error, 2)
	for i := range 2 {
		d, err := db.Open(ctx, db.Postgres, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		wg.Go(func() { results[i], errs[i] = migrate.Apply(ctx, d.SQL, db.Postgres, v2) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors: %v, %v", errs[0], errs[1])
	}
	if n := len(results[0]) + len(results[1]); n != 2 {
		t.Fatalf("applied %v and %v: want each of the 2 versions applied once", results[0], results[1])
	}
}

func TestUnknownDialect(t *testing.T) {
	d := migratetest.Open(t, db.SQLite)
	if err := migrate.Up(context.Background(), d.SQL, "mysql", v1); err == nil {
		t.Fatal("Up with dialect mysql succeeded")
	}
}

// TestSetFS: a service's Set serves each dialect's folder, under Herald's
// and ent's spelling, and refuses other dialects.
func TestSetFS(t *testing.T) {
	set := migrate.Set{Service: "notes", Files: fstest.MapFS{
		"postgres/00001_notes.sql": v1["00001_notes.sql"],
		"sqlite/00001_notes.sql":   v1["00001_notes.sql"],
	}}
	for _, d := range []string{"postgres", "sqlite", "sqlite3"} {
		fsys, err := set.FS(d)
		if err != nil {
			t.Fatalf("FS(%q): %v", d, err)
		}
		if _, err := fs.Stat(fsys, "00001_notes.sql"); err != nil {
			t.Errorf("FS(%q): %v", d, err)
		}
	}
	if _, err := set.FS("mysql"); err == nil || !strings.Contains(err.Error(), "notes migrations") {
		t.Errorf("FS(mysql) = %v, want an error naming the service", err)
	}
}
