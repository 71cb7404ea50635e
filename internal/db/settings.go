package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/startup"
)

// Settings are a service's database settings (HERALD_DB_DRIVER,
// HERALD_DB_DSN, HERALD_DB_MIGRATE) with its embedded migrations: what a
// service opens at start-up and its migrate subcommand applies.
type Settings struct {
	Driver string // SQLite or Postgres
	DSN    string // an SQLite file path or a PostgreSQL DSN
	// Mode is migrate.ModeAuto (apply pending migrations at start-up; also
	// when empty) or migrate.ModeOff (refuse to start unless the schema is
	// current: production runs the migrate subcommand first).
	Mode string
	// Migrations are the service's (ent/<service>/migrations.Set); their
	// Service names it in errors. A service's Run and Migrate give a
	// hand-built Settings that leaves them zero the service's own (see
	// OrMigrations); opening without any is an error.
	Migrations migrate.Set
}

// HasMigrations reports whether d names a service's migrations: a service
// with a database has them, one without leaves Settings zero.
func (d Settings) HasMigrations() bool { return d.Migrations.Files != nil }

// OrMigrations is d with set as its Migrations when d has none: a Settings
// built by hand (tests name only the driver and DSN) still brings its
// service's schema up to date, as one from LoadSettings does.
func (d Settings) OrMigrations(set migrate.Set) Settings {
	if !d.HasMigrations() {
		d.Migrations = set
	}
	return d
}

// LoadSettings declares the database variables of the service whose
// migrations are set (its name is set.Service; its embedded default is the
// SQLite file .run/<name>.db) and checks them together: PostgreSQL needs a
// DSN of its own.
func LoadSettings(v *config.Vars, set migrate.Set) Settings {
	name := set.Service
	def := ".run/" + name + ".db"
	d := Settings{
		Migrations: set,
		Driver:     v.Enum("HERALD_DB_DRIVER", SQLite, name+" database driver", SQLite, Postgres),
		DSN:        v.String("HERALD_DB_DSN", def, name+" database: an SQLite file path or a PostgreSQL DSN"),
		Mode: v.Enum("HERALD_DB_MIGRATE", migrate.ModeAuto,
			"apply pending schema migrations at start-up (auto), or only check the schema is current (off; run `"+name+" migrate` first)",
			migrate.ModeAuto, migrate.ModeOff),
	}
	v.Check(d.Driver != Postgres || d.DSN != def,
		"HERALD_DB_DSN: must be a PostgreSQL DSN when HERALD_DB_DRIVER=%s", Postgres)
	return d
}

// Open connects to the database and brings its schema up to date from the
// service's embedded migrations (Mode auto), or checks that it is (off).
// Errors name the service.
func (d Settings) Open(ctx context.Context, logger *slog.Logger) (*DB, error) {
	conn, err := Open(ctx, d.Driver, d.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: open database: %w", d.Migrations.Service, err)
	}
	if err := EnsureSchema(ctx, conn, d.Mode, d.Migrations, logger); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// EnsureSchema brings the schema of an open database up to date (mode auto) or
// checks that it is (off); goose's lines are logged as component=migrate.
func EnsureSchema(ctx context.Context, conn *DB, mode string, set migrate.Set, logger *slog.Logger) error {
	logger = logging.OrDiscard(logger)
	if set.Files == nil {
		// Without migrations the schema could be neither applied nor
		// checked: refuse rather than open a database of unknown shape.
		return errors.New("db: no migrations to bring the schema up to date with (Settings.Migrations is zero)")
	}
	fsys, err := set.FS(conn.Dialect)
	if err != nil {
		return err
	}
	if err := migrate.Ensure(ctx, conn.SQL, conn.Dialect, mode, fsys, logger.With("component", "migrate")); err != nil {
		return fmt.Errorf("%s: %w", set.Service, err)
	}
	return nil
}

// Migrate applies the pending migrations and closes the database: the
// migrate subcommand (a release step), whatever Mode says.
func (d Settings) Migrate(ctx context.Context, logger *slog.Logger) error {
	d.Mode = migrate.ModeAuto
	conn, err := d.Open(ctx, logger)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Wait is Open at start-up, while health already answers: an unreachable
// database is waited for with backoff (st reports check "database" not
// ready meanwhile); a schema the build refuses, or bad credentials, end the
// wait with the error.
func (d Settings) Wait(ctx context.Context, st *startup.Status, logger *slog.Logger) (*DB, error) {
	return startup.Wait(ctx, logger, st, "database", "database unreachable", func(ctx context.Context) (*DB, error) {
		return d.Open(ctx, logger)
	})
}
