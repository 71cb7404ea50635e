package service_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/service/servicetest"
	"github.com/heraldhq/herald/internal/startup"
)

var notes = migrate.Set{Service: "notes", Files: fstest.MapFS{
	"sqlite/00001_notes.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE notes (id integer PRIMARY KEY);\n")},
	"postgres/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id integer PRIMARY KEY);\n")},
}}

// command is a service with a database, a listen address that may be
// refused and a subcommand; serving opens its database as a Run does and
// stops when asked.
var command = service.Command{
	Name:    "notes",
	Summary: "a test service",
	Load: func(v *config.Vars) service.Plan {
		d := db.LoadSettings(v, notes)
		addr := v.String("HERALD_HTTP_ADDR", ":4009", "listen address")
		p := service.Plan{
			Database: d,
			Serve: func(ctx context.Context, rt service.Runtime) error {
				conn, err := d.Wait(ctx, &startup.Status{}, rt.Logger)
				if err != nil {
					return err
				}
				defer conn.Close()
				rt.Logger.Info("notes ready")
				<-ctx.Done()
				return nil
			},
			Subcommands: []service.Subcommand{{
				Name: "echo", Synopsis: "echo WORDS", Help: "print the words",
				Run: func(_ context.Context, c service.Call) int {
					if code, done := c.Validated(); done {
						return code
					}
					c.Logger("notes-echo").Info("echo", "words", c.Args)
					return 0
				},
			}},
		}
		if addr == "refused" {
			p.ListenErr = errors.New("not this one")
		}
		return p
	},
}

func TestCommand(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "notes.db")
	servicetest.Run(t, command.Run, []servicetest.Case{
		{Name: "help", Args: []string{"-h"}, Out: []string{
			"notes: a test service\n\nUsage: notes                             serve\n       notes migrate                     apply pending",
			"       notes echo WORDS                  print the words\n       notes [migrate] --check-config    validate",
			"HERALD_LOG_LEVEL", "HERALD_DB_DSN", ".run/notes.db", "run `notes migrate` first", "HERALD_HTTP_ADDR"}},
		{Name: "unknown arguments", Args: []string{"serve"}, Code: 2,
			Out: []string{`notes: unknown arguments ["serve"] (want no arguments, migrate, echo, --help`}},
		{Name: "migrate takes no arguments", Args: []string{"migrate", "now"}, Code: 2, Out: []string{"unknown arguments"}},
		{Name: "problems reported together", Env: map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_DB_DRIVER": "postgres", "HERALD_HTTP_ADDR": "refused"},
			Code: 2, Out: []string{"HERALD_LOG_LEVEL", "HERALD_DB_DSN: must be a PostgreSQL DSN", "HERALD_HTTP_ADDR: not this one"}},
		{Name: "check-config", Args: []string{"--check-config"}, Out: []string{"configuration is valid"}},
		{Name: "migrate does not need the listen address", Args: []string{"migrate", "--check-config"},
			Env: map[string]string{"HERALD_HTTP_ADDR": "refused"}, Out: []string{"configuration is valid"}},
		{Name: "subcommand", Args: []string{"echo", "a", "b"}, Out: []string{`"service":"notes-echo"`, `"words":["a","b"]`}},
		{Name: "subcommand check-config", Args: []string{"echo", "--check-config"}, Env: map[string]string{"HERALD_DB_MIGRATE": "never"},
			Code: 2, Out: []string{"HERALD_DB_MIGRATE"}},
		{Name: "off refuses an unmigrated database", Env: map[string]string{"HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off"},
			Code: 1, Out: []string{`"msg":"notes stopped"`, "notes: migrate: database schema is at version 0, the code needs 1"}},
		{Name: "migrate", Args: []string{"migrate"}, Env: map[string]string{"HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off"},
			Out: []string{`"msg":"database migrated"`, `"component":"migrate"`, `"msg":"database schema is current"`}},
		{Name: "serves until stopped", Env: map[string]string{"HERALD_DB_DSN": dsn, "HERALD_DB_MIGRATE": "off"}, Until: `"msg":"notes ready"`,
			Out: []string{`"service":"notes"`, `"msg":"notes stopped cleanly"`}},
	})
}

// A service stopped while it waits for its database stops cleanly.
func TestStoppedWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := db.Settings{Driver: "postgres", DSN: "postgres://herald@127.0.0.1:1/notes?connect_timeout=1", Migrations: notes}
	_, err := d.Wait(ctx, &startup.Status{}, nil)
	if err == nil || !startup.Stopped(ctx, err) {
		t.Fatalf("Wait after cancel = %v, want an error Stopped recognises", err)
	}
	if startup.Stopped(t.Context(), errors.New("schema refused")) {
		t.Fatal("Stopped recognises any error")
	}
}
