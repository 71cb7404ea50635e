package db_test

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
)

// A hand-built Settings that names no migrations takes the service's own;
// one that names some keeps them; and opening with none at all is refused
// instead of leaving the schema unchecked.
func TestSettingsMigrations(t *testing.T) {
	own := migrate.Set{Service: "own", Files: fstest.MapFS{}}
	given := migrate.Set{Service: "given", Files: fstest.MapFS{}}
	if got := (db.Settings{}).OrMigrations(own).Migrations.Service; got != "own" {
		t.Errorf("zero Migrations: got %q, want the service's own", got)
	}
	if got := (db.Settings{Migrations: given}).OrMigrations(own).Migrations.Service; got != "given" {
		t.Errorf("Migrations given: got %q, want them kept", got)
	}
	d := db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "none.db")}
	conn, err := d.Open(t.Context(), nil)
	if err == nil {
		_ = conn.Close()
		t.Fatal("opened without migrations")
	}
	if !strings.Contains(err.Error(), "no migrations") {
		t.Errorf("error %q does not say migrations are missing", err)
	}
}
