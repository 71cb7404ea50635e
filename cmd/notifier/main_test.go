package main

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/migrate/migratetest"
	"github.com/heraldhq/herald/internal/service/servicetest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRunHelpAndConfig(t *testing.T) {
	servicetest.Run(t, cmd.Run, []servicetest.Case{
		servicetest.AllProblems(map[string]string{
			"HERALD_SMTP_TLS":         "sometimes",
			"HERALD_MAIL_FROM":        "not an address",
			"HERALD_DELIVERY_WORKERS": "many",
		}),
		{Name: "dlq replay help lists its flags", Args: []string{"dlq", "replay", "-h"}, Out: []string{"-limit", "-topic", "-group", "HERALD_KAFKA_BROKERS"}},
		{Name: "dlq without replay", Args: []string{"dlq"}, Code: 2, Out: []string{"usage: notifier dlq replay"}},
		{Name: "dlq replay bad flag", Args: []string{"dlq", "replay", "-limit", "x"}, Code: 2, Out: []string{"invalid value"}},
		{Name: "unknown argument", Args: []string{"serve"}, Code: 2, Out: []string{"unknown arguments"}},
		{Name: "lease shorter than the webhook timeout", Env: map[string]string{"HERALD_WEBHOOK_TIMEOUT": "3m"}, Code: 2, Out: []string{"HERALD_DELIVERY_LEASE", "HERALD_WEBHOOK_TIMEOUT"}},
		{Name: "lease shorter than the SMS timeout", Env: map[string]string{"HERALD_SMS_TIMEOUT": "5m"}, Code: 2, Out: []string{"HERALD_DELIVERY_LEASE", "5m0s"}},
		{Name: "check-config valid", Args: []string{"--check-config"}, Out: []string{"configuration is valid"}},
		{Name: "dlq replay check-config", Args: []string{"dlq", "replay", "--check-config", "-limit", "3"}, Out: []string{"configuration is valid"}},
		{Name: "check-config invalid", Args: []string{"--check-config"}, Env: map[string]string{"HERALD_SMTP_TLS": "sometimes"}, Code: 2, Out: []string{"HERALD_SMTP_TLS"}},
		{Name: "invalid secret key reported with the others", Env: map[string]string{
			"HERALD_NOTIFIER_SECRET_KEY": "not-32-bytes",
			"HERALD_DB_MIGRATE":          "sometimes",
		}, Code: 2, Out: []string{"HERALD_NOTIFIER_SECRET_KEY: must be the standard base64 encoding of 32 random bytes", "HERALD_DB_MIGRATE"}},
	})
	servicetest.Run(t, cmd.Run, servicetest.DatabaseCases("notifier"))
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
	for _, driver := range migratetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			d := db.Settings{Driver: driver, DSN: migratetest.DSN(t, driver), Mode: migrate.ModeOff, Migrations: migrations.Set}
			env := map[string]string{"HERALD_DB_DRIVER": d.Driver, "HERALD_DB_DSN": d.DSN}
			for i := range 2 { // the second run finds nothing to do
				var out bytes.Buffer
				if code := cmd.Run(t.Context(), []string{"migrate"}, servicetest.Env(env), &out); code != 0 {
					t.Fatalf("notifier migrate #%d: exit %d\n%s", i+1, code, out.String())
				}
				if !strings.Contains(out.String(), "database schema is current") {
					t.Errorf("notifier migrate #%d output:\n%s", i+1, out.String())
				}
			}
			// With migrations off, opening checks the schema is current.
			conn, err := d.Open(t.Context(), nil)
			if err != nil {
				t.Fatalf("after notifier migrate: %v", err)
			}
			_ = conn.Close()
		})
	}
}
