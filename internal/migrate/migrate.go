// Package migrate applies a service's versioned SQL migrations with goose.
//
// Each service embeds one folder of numbered goose files per dialect
// (for example ent/users/migrations/postgres/00001_init.sql) and calls Up at
// start-up (HERALD_DB_MIGRATE=auto) or from its `migrate` subcommand. The
// applied versions are recorded in the goose_db_version table of the
// service's own database. On PostgreSQL a session advisory lock makes
// concurrent replicas take turns, so two instances starting together never
// run the same migration twice; SQLite needs no lock because it has one
// writer.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/heraldhq/herald/internal/logging"
)

// Dialects accepted by Up, in both Herald's spelling (internal/db) and
// ent's ("sqlite3").
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Set is one service's migrations, embedded in its binary: a folder of
// numbered goose *.sql files per dialect (postgres/ and sqlite/) in Files.
// Every ent/<service>/migrations package exposes one.
type Set struct {
	Service string // names the service in errors
	Files   fs.FS
}

// FS returns the migrations for a dialect: "postgres", or "sqlite" (also
// spelt "sqlite3", ent's name).
func (s Set) FS(dialect string) (fs.FS, error) {
	dir := dialect
	if dialect == "sqlite3" {
		dir = SQLite
	}
	if dir != Postgres && dir != SQLite {
		return nil, fmt.Errorf("%s migrations: no migrations for dialect %q", s.Service, dialect)
	}
	return fs.Sub(s.Files, dir)
}

// Modes of HERALD_DB_MIGRATE.
const (
	// ModeAuto applies pending migrations at start-up (development, tests,
	// single-instance deployments).
	ModeAuto = "auto"
	// ModeOff leaves the schema alone at start-up; production runs the
	// service's `migrate` subcommand as a release step instead.
	ModeOff = "off"
)

// Option adjusts a migration run.
type Option func(*options)

type options struct {
	logger *slog.Logger
	table  string
}

// WithLogger logs each applied migration.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTable overrides the version table's name (default goose_db_version),
// for services that share one database.
func WithTable(name string) Option { return func(o *options) { o.table = name } }

// Up applies every pending migration in fsys (a folder of goose *.sql files
// for this dialect; use fs.Sub to pick the folder) and returns the versions
// it applied. A database already up to date is left unchanged.
func Up(ctx context.Context, db *sql.DB, dialect string, fsys fs.FS, opts ...Option) error {
	_, err := Apply(ctx, db, dialect, fsys, opts...)
	return err
}

// Apply is Up that also reports the versions applied, oldest first.
func Apply(ctx context.Context, db *sql.DB, dialect string, fsys fs.FS, opts ...Option) ([]int64, error) {
	p, err := newProvider(db, dialect, fsys, opts...)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil {
			return nil, fmt.Errorf("migrate: %s: %w", partial.Failed.Source.Path, partial.Err)
		}
		return nil, fmt.Errorf("migrate: %w", err)
	}
	versions := make([]int64, 0, len(results))
	for _, r := range results {
		versions = append(versions, r.Source.Version)
	}
	return versions, nil
}

// Version is the state of a database against its migrations.
type Version struct {
	Current int64 // highest applied version, 0 for an empty database
	Latest  int64 // highest version in the migration files
}

// Pending reports whether migrations are waiting to be applied.
func (v Version) Pending() bool { return v.Current < v.Latest }

// Status reads the applied version without changing anything (it does
// create the empty version table on a brand-new database, as goose does).
func Status(ctx context.Context, db *sql.DB, dialect string, fsys fs.FS, opts ...Option) (Version, error) {
	p, err := newProvider(db, dialect, fsys, opts...)
	if err != nil {
		return Version{}, err
	}
	cur, latest, err := p.GetVersions(ctx)
	if err != nil {
		return Version{}, fmt.Errorf("migrate: read version: %w", err)
	}
	return Version{Current: cur, Latest: latest}, nil
}

// RequireCurrent fails unless every migration in fsys has been applied: a
// service started with HERALD_DB_MIGRATE=off calls it so that it refuses to
// serve over a schema older than its code. A schema newer than the code is
// accepted: during a rolling deployment the release step migrates first and
// instances of the previous build keep running (migrations are written to
// be backward compatible, expand before contract); Status tells callers
// that want to warn about it.
func RequireCurrent(ctx context.Context, db *sql.DB, dialect string, fsys fs.FS, opts ...Option) error {
	v, err := Status(ctx, db, dialect, fsys, opts...)
	if err != nil {
		return err
	}
	return v.requireCurrent()
}

func (v Version) requireCurrent() error {
	if v.Pending() {
		return fmt.Errorf("migrate: database schema is at version %d, the code needs %d: run the migrate subcommand (or set HERALD_DB_MIGRATE=auto)", v.Current, v.Latest)
	}
	return nil
}

func newProvider(db *sql.DB, dialect string, fsys fs.FS, opts ...Option) (*goose.Provider, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	var (
		gd    goose.Dialect
		gopts []goose.ProviderOption
	)
	switch dialect {
	case Postgres:
		gd = goose.DialectPostgres
		// Advisory locks are per database, so every service may use the
		// default lock id on its own database.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		gopts = append(gopts, goose.WithSessionLocker(locker))
	case SQLite, "sqlite3":
		gd = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("migrate: unknown dialect %q (want %s or %s)", dialect, Postgres, SQLite)
	}
	// Never the package-level registry: migrations are only the files given.
	gopts = append(gopts, goose.WithDisableGlobalRegistry(true))
	if o.logger != nil {
		gopts = append(gopts, goose.WithSlog(o.logger), goose.WithVerbose(true))
	}
	if o.table != "" {
		gopts = append(gopts, goose.WithTableName(o.table))
	}
	// The provider is never closed: its Close would close db, which belongs
	// to the caller.
	p, err := goose.NewProvider(gd, db, fsys, gopts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return p, nil
}

// Ensure is what a service does with its schema at start-up, by mode:
// ModeAuto applies pending migrations; ModeOff only checks the schema is
// current. A schema newer than this build is accepted with a warning:
// during a rolling deployment the release step migrates first while
// instances of the previous build still run (migrations expand before they
// contract).
func Ensure(ctx context.Context, db *sql.DB, dialect, mode string, fsys fs.FS, logger *slog.Logger) error {
	logger = logging.OrDiscard(logger)
	if mode == ModeOff {
		v, err := Status(ctx, db, dialect, fsys)
		if err != nil {
			return err
		}
		if err := v.requireCurrent(); err != nil {
			return err
		}
		if v.Current > v.Latest {
			logger.WarnContext(ctx, "database schema is newer than this build", "schema_version", v.Current, "build_version", v.Latest)
		}
		return nil
	}
	applied, err := Apply(ctx, db, dialect, fsys, WithLogger(logger))
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.InfoContext(ctx, "database migrated", "applied_versions", applied)
	}
	return nil
}
