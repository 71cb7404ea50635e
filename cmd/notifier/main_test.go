package main

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRunHelpAndConfig(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{"help lists the variables", []string{"--help"}, nil, 0,
			[]string{"HERALD_SMTP_TLS", "HERALD_SMTP_CA_FILE", "HERALD_TOPIC_ORDER_CREATED", "HERALD_NOTIFIER_GROUP", "HERALD_USERS_URL", "HERALD_MAIL_FROM", ":4003", "starttls-required"}},
		{"all problems reported together", nil, map[string]string{
			"HERALD_SMTP_TLS":         "sometimes",
			"HERALD_MAIL_FROM":        "not an address",
			"HERALD_DELIVERY_WORKERS": "many",
		}, 2, []string{"HERALD_SMTP_TLS", "HERALD_MAIL_FROM", "HERALD_DELIVERY_WORKERS"}},
		{"help names the new variables and the dlq subcommand", []string{"--help"}, nil, 0,
			[]string{"HERALD_TOPIC_NOTIFICATION_STATUS", "HERALD_DELIVERY_MAX_ATTEMPTS", "HERALD_DELIVERY_MAX_AGE", "HERALD_USERS_BREAKER_OPEN", "dlq replay"}},
		{"dlq replay help lists its flags", []string{"dlq", "replay", "-h"}, nil, 0, []string{"-limit", "-topic", "-group", "HERALD_KAFKA_BROKERS"}},
		{"dlq without replay", []string{"dlq"}, nil, 2, []string{"usage: notifier dlq replay"}},
		{"dlq replay bad flag", []string{"dlq", "replay", "-limit", "x"}, nil, 2, []string{"invalid value"}},
		{"unknown argument", []string{"serve"}, nil, 2, []string{"unknown arguments"}},
		{"migrate takes no arguments", []string{"migrate", "now"}, nil, 2, []string{"unknown arguments"}},
		{"help names migrations and retention", []string{"--help"}, nil, 0,
			[]string{"HERALD_DB_MIGRATE", "HERALD_STATUS_RETENTION", "168h0m0s", "migrate ", "HERALD_SMS_TIMEOUT", "HERALD_WEBHOOK_TIMEOUT"}},
		{"lease shorter than the webhook timeout", nil, map[string]string{"HERALD_WEBHOOK_TIMEOUT": "3m"}, 2,
			[]string{"HERALD_DELIVERY_LEASE", "HERALD_WEBHOOK_TIMEOUT"}},
		{"lease shorter than the SMS timeout", nil, map[string]string{"HERALD_SMS_TIMEOUT": "5m"}, 2,
			[]string{"HERALD_DELIVERY_LEASE", "5m0s"}},
		{"check-config valid", []string{"--check-config"}, nil, 0, []string{"configuration is valid"}},
		{"migrate check-config opens no database", []string{"migrate", "--check-config"},
			map[string]string{"HERALD_DB_DRIVER": "postgres", "HERALD_DB_DSN": "postgres://herald@127.0.0.1:1/notifier"}, 0, []string{"configuration is valid"}},
		{"dlq replay check-config", []string{"dlq", "replay", "--check-config", "-limit", "3"}, nil, 0, []string{"configuration is valid"}},
		{"check-config invalid", []string{"--check-config"}, map[string]string{"HERALD_SMTP_TLS": "sometimes"}, 2, []string{"HERALD_SMTP_TLS"}},
		{"unknown migrate mode", nil, map[string]string{"HERALD_DB_MIGRATE": "sometimes"}, 2, []string{"HERALD_DB_MIGRATE"}},
		{"help names the secret key", []string{"--help"}, nil, 0, []string{"HERALD_NOTIFIER_SECRET_KEY", "encrypting webhook signing secrets"}},
		{"invalid secret key reported with the others", nil, map[string]string{
			"HERALD_NOTIFIER_SECRET_KEY": "not-32-bytes",
			"HERALD_DB_MIGRATE":          "sometimes",
		}, 2, []string{"HERALD_NOTIFIER_SECRET_KEY: must be the standard base64 encoding of 32 random bytes", "HERALD_DB_MIGRATE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// With the default configuration main wires email and webhook senders; SMS
// stays off until a provider is configured.
func TestSendersFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"defaults", nil, []string{"email", "webhook"}},
		{"sms provider configured", map[string]string{
			"HERALD_SMS_BASE_URL": "https://sms.invalid", "HERALD_SMS_ACCOUNT_ID": "AC1", "HERALD_SMS_AUTH_TOKEN": "t", "HERALD_SMS_FROM": "+15005550006",
		}, []string{"email", "sms", "webhook"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := config.New(func(k string) string { return tc.env[k] })
			cfg := notifier.LoadConfig(v)
			if err := v.Err(); err != nil {
				t.Fatal(err)
			}
			got, err := cfg.Channels.Senders(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			names := slices.Sorted(maps.Keys(got))
			if !slices.Equal(names, tc.want) {
				t.Errorf("senders = %v, want %v", names, tc.want)
			}
		})
	}
}

// `notifier migrate` brings an empty database to the current schema and
// exits; the service then starts with HERALD_DB_MIGRATE=off over it (it
// would refuse an unmigrated one: see TestMigrateOffRefusesEmptyDatabase).
func TestMigrateSubcommand(t *testing.T) {
	for _, tc := range []struct {
		driver string
		dsn    func(t *testing.T) string
	}{
		{db.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "notifier.db") }},
		{db.Postgres, func(t *testing.T) string { return testenv.Postgres(t) }},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			env := map[string]string{"HERALD_DB_DRIVER": tc.driver, "HERALD_DB_DSN": tc.dsn(t)}
			getenv := func(k string) string { return env[k] }
			for i := range 2 { // the second run finds nothing to do
				var out bytes.Buffer
				if code := run(t.Context(), []string{"migrate"}, getenv, &out); code != 0 {
					t.Fatalf("notifier migrate #%d: exit %d\n%s", i+1, code, out.String())
				}
				if !strings.Contains(out.String(), "database schema is current") {
					t.Errorf("notifier migrate #%d output:\n%s", i+1, out.String())
				}
			}
			d, err := db.Open(t.Context(), tc.driver, env["HERALD_DB_DSN"])
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			fsys, err := migrations.FS(d.Dialect)
			if err != nil {
				t.Fatal(err)
			}
			if err := migrate.RequireCurrent(t.Context(), d.SQL, d.Dialect, fsys); err != nil {
				t.Errorf("after notifier migrate: %v", err)
			}
		})
	}
}
