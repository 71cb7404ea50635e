package notifier

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
)

// Migrate applies the notifier's pending schema migrations and returns: the
// `notifier migrate` subcommand (a release step) and what Run does with
// HERALD_DB_MIGRATE=auto.
func Migrate(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d, err := db.Open(ctx, cfg.DBDriver, cfg.DBDSN)
	if err != nil {
		return fmt.Errorf("notifier database: %w", err)
	}
	defer d.Close()
	return migrateDB(ctx, d, migrate.ModeAuto, logger)
}

// migrateDB brings the schema up to date (auto) or checks that it is (off).
// A schema newer than this build is accepted with a warning: during a
// rolling deployment the release step migrates first while instances of the
// previous build still run (migrations expand before they contract).
func migrateDB(ctx context.Context, d *db.DB, mode string, logger *slog.Logger) error {
	fsys, err := migrations.FS(d.Dialect)
	if err != nil {
		return err
	}
	if mode == migrate.ModeOff {
		if err := migrate.RequireCurrent(ctx, d.SQL, d.Dialect, fsys); err != nil {
			return fmt.Errorf("notifier: %w", err)
		}
		if v, err := migrate.Status(ctx, d.SQL, d.Dialect, fsys); err == nil && v.Current > v.Latest {
			logger.WarnContext(ctx, "database schema is newer than this build", "schema_version", v.Current, "build_version", v.Latest)
		}
		return nil
	}
	applied, err := migrate.Apply(ctx, d.SQL, d.Dialect, fsys, migrate.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	if len(applied) > 0 {
		logger.InfoContext(ctx, "database migrated", "applied_versions", applied)
	}
	return nil
}
