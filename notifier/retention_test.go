package notifier

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/migrations"
	"github.com/heraldhq/herald/ent/notifier/outboxevent"
	"github.com/heraldhq/herald/ent/notifier/statusevent"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/migrate"
	"github.com/heraldhq/herald/internal/outbox"
	"github.com/heraldhq/herald/internal/stream"
)

// Status history and published status outbox rows older than the retention
// are deleted (the history by historyCleaner, the outbox by the relay Run
// configures with the same retention); younger rows and unpublished outbox
// rows stay.
func TestStatusRetention(t *testing.T) {
	eachDB(t, func(t *testing.T, driver, dsn string) {
		client, d := openDB(t, driver, dsn)
		ctx := context.Background()
		const retention = 7 * 24 * time.Hour
		now := time.Now().UTC().Truncate(time.Second)
		ages := map[string]time.Duration{"old": retention + time.Hour, "older": 30 * 24 * time.Hour, "young": retention - time.Hour, "new": 0}
		for name, age := range ages {
			at := now.Add(-age)
			// 3 history rows per age: more than one delete batch below.
			for i := range 3 {
				if err := client.StatusEvent.Create().SetID(uuid.New()).SetDeliveryID(uuid.New()).SetEventID(name).
					SetOrderID(name).SetUserID("u").SetChannel("email").SetFromStatus(statusevent.FromStatusNONE).
					SetStatus(statusevent.StatusPENDING).SetAttempt(0).SetAt(at.Add(time.Duration(i) * time.Millisecond)).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, st := range []outboxevent.Status{outboxevent.StatusPublished, outboxevent.StatusPending} {
				c := client.OutboxEvent.Create().SetID(name + "-" + string(st)).SetTopic("NotificationStatus").SetKey(name).
					SetHeaders([]stream.Header{}).SetPayload([]byte("{}")).SetStatus(st).SetCreatedAt(at)
				if st == outboxevent.StatusPublished {
					c.SetPublishedAt(at)
				}
				if err := c.Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}

		h := &historyCleaner{DB: client, Retention: retention, Batch: 2, Logger: testLogger(t), Now: func() time.Time { return now }}
		n, err := h.CleanOnce(ctx)
		if err != nil || n != 6 {
			t.Fatalf("CleanOnce = %d, %v; want the 6 rows of the two old ages", n, err)
		}
		relay, err := outbox.New(outbox.Config{DB: d.SQL, Dialect: d.Dialect, Table: "outbox_events", Publisher: nopPublisher{}, Retention: retention, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := relay.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}

		if got, want := historyEventIDs(t, client), []string{"new", "new", "new", "young", "young", "young"}; !slices.Equal(got, want) {
			t.Errorf("history left: %v, want %v", got, want)
		}
		ids, err := client.OutboxEvent.Query().Order(outboxevent.ByID()).IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"new-pending", "new-published", "old-pending", "older-pending", "young-pending", "young-published"}
		if !slices.Equal(ids, want) {
			t.Errorf("outbox left: %v, want %v", ids, want)
		}
		// Nothing more to do.
		if n, err := h.CleanOnce(ctx); err != nil || n != 0 {
			t.Errorf("second CleanOnce = %d, %v; want 0", n, err)
		}
	})
}

func historyEventIDs(t *testing.T, client *entnotifier.Client) []string {
	t.Helper()
	evs, err := client.StatusEvent.Query().Order(statusevent.ByEventID()).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	return out
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, ...stream.Message) error { return nil }
func (nopPublisher) Close() error                                     { return nil }

// With HERALD_DB_MIGRATE=off the notifier refuses a database whose schema
// is not current (and says how to fix it); after `notifier migrate`
// (db.Settings.Migrate, which the service kit runs) it accepts it.
func TestMigrateOffRefusesEmptyDatabase(t *testing.T) {
	cfg := Config{DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "notifier.db"), Mode: migrate.ModeOff}}
	check := func() error {
		d, err := db.Open(t.Context(), cfg.DB.Driver, cfg.DB.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		return db.EnsureSchema(t.Context(), d, cfg.DB.Mode, migrations.Set, testLogger(t))
	}
	if err := check(); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("mode off on an empty database: %v, want an error naming the migrate subcommand", err)
	}
	if err := cfg.DB.OrMigrations(migrations.Set).Migrate(t.Context(), testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Fatalf("mode off after Migrate: %v", err)
	}
}
