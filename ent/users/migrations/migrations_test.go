package migrations_test

import (
	"context"
	"io"
	"testing"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/migrations"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate/migratetest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func dryRun(ctx context.Context, d *db.DB, w io.Writer) error {
	return entusers.NewClient(entusers.Driver(d.Driver)).Schema.WriteTo(ctx, w)
}

func TestMigrationsMatchEntSchema(t *testing.T) { migratetest.MatchesEnt(t, migrations.Set, dryRun) }
