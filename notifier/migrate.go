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
func migrateDB(ctx context.Context, d *db.DB, mode string, logger *slog.Logger) error {
	fsys, err := migrations.FS(d.Dialect)
	if err != nil {
		return err
	}
	if err := migrate.Ensure(ctx, d.SQL, d.Dialect, mode, fsys, logger); err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	return nil
}
