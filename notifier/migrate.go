package notifier

import (
	"context"
	"log/slog"

	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/db"
)

// Migrate applies the notifier's pending schema migrations and returns: the
// `notifier migrate` subcommand (a release step).
func Migrate(ctx context.Context, cfg Config, logger *slog.Logger) error {
	return cfg.DB.OrMigrations(migrations.Set).Migrate(ctx, logger)
}

// migrateDB brings the schema of an open database up to date (auto) or
// checks that it is (off), as Run does.
func migrateDB(ctx context.Context, d *db.DB, mode string, logger *slog.Logger) error {
	return db.EnsureSchema(ctx, d, mode, migrations.Set, logger)
}
