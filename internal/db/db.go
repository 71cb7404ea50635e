// Package db opens a service's own database: PostgreSQL in production and
// tests, an SQLite file (pure Go driver) as the embedded default. Settings
// are the one declaration of a service's HERALD_DB_* variables, and open the
// database with its schema brought up to date from the service's embedded
// migrations (internal/migrate).
package db

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Drivers accepted by Open.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// DB is an open database and the ent driver over it.
type DB struct {
	SQL     *sql.DB
	Dialect string // ent dialect name
	Driver  *entsql.Driver
}

// maxOpenPostgres caps a service's PostgreSQL connections.
const maxOpenPostgres = 20

// Open connects and pings. For SQLite, dsn is a file path (its folder is
// created) or a full "file:" DSN; foreign keys, WAL and a busy timeout are
// switched on because ent and concurrent workers rely on them.
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	var (
		sqlDB   *sql.DB
		err     error
		entDial string
	)
	switch driver {
	case Postgres:
		sqlDB, err = sql.Open("pgx", dsn)
		entDial = dialect.Postgres
		if err == nil {
			// database/sql keeps only 2 idle connections by default: with a
			// consumer per partition, delivery workers and relays sharing the
			// pool, every connection beyond that was closed on release and
			// dialled again (a PostgreSQL backend forked per transaction).
			// Idle ones are kept up to the cap and retired after a while.
			sqlDB.SetMaxOpenConns(maxOpenPostgres)
			sqlDB.SetMaxIdleConns(maxOpenPostgres)
			sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		}
	case SQLite:
		if !strings.HasPrefix(dsn, "file:") {
			if dir := filepath.Dir(dsn); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("create sqlite folder: %w", err)
				}
			}
			dsn = "file:" + dsn + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
		}
		sqlDB, err = sql.Open("sqlite", dsn)
		entDial = dialect.SQLite
		if err == nil {
			// One writer at a time is what SQLite allows anyway; a single
			// connection avoids SQLITE_BUSY storms between our own goroutines.
			sqlDB.SetMaxOpenConns(1)
		}
	default:
		return nil, fmt.Errorf("unknown database driver %q (want %s or %s)", driver, Postgres, SQLite)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", driver, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("ping %s: %w", driver, err)
	}
	return &DB{SQL: sqlDB, Dialect: entDial, Driver: entsql.OpenDB(entDial, sqlDB)}, nil
}

// Ping is a health check.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// Close closes the pool.
func (d *DB) Close() error { return d.SQL.Close() }
