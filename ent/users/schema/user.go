// Package schema holds the ent schema of the users service.
//
// The database schema itself is created by the versioned SQL migrations in
// ent/users/migrations (applied by internal/migrate); this ent schema must
// describe exactly the same tables, which TestMigrationsMatchEntSchema in
// ent/migrations_test.go checks on PostgreSQL and SQLite.
package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// CategoryPreference is what a user chose for one notification category.
// Stored as JSON keyed by category name: categories and channels can be
// added without a migration, and the whole preference set is read in the
// same row lookup as the contact details.
type CategoryPreference struct {
	// Enabled is nil while the user has not chosen: the category's default
	// applies (ORDER_UPDATES on, MARKETING off).
	Enabled *bool `json:"enabled,omitempty"`
	// OptOut lists channels (EMAIL, SMS, WEBHOOK, IN_APP) this category must
	// not use for this user.
	OptOut []string `json:"optOut,omitempty"`
}

// User is a person Herald notifies, with their contact details and
// notification preferences. A deleted user stays as a tombstone (deleted_at
// set, personal data cleared) so that events still naming them are
// recognised and dropped.
type User struct {
	ent.Schema
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// A server-generated UUID string: opaque to clients, unguessable, and
		// usable as a stream key by other services without a lookup.
		field.String("id").
			DefaultFunc(uuid.NewString).
			Immutable().
			NotEmpty().
			MaxLen(36),
		// Counted in characters; empty only on a deleted user.
		field.String("name").
			MaxRuneLen(200),
		// Stored lower-cased by the resolver; the unique index then makes
		// addresses that differ only in case collide. NULL once deleted, so a
		// deleted user's address can register again.
		field.String("email").
			Optional().
			Nillable().
			MaxLen(254). // RFC 5321's limit on a forward path
			Unique(),
		// E.164 ("+4915112345678"), or NULL when unknown.
		field.String("phone").
			Optional().
			Nillable().
			MaxLen(16),
		// HTTPS endpoint for webhook notifications, or NULL.
		field.String("webhook_url").
			Optional().
			Nillable().
			MaxLen(2048),
		// The webhook signing secret, sealed (see subgraphs/users/secret.go):
		// "v1:" + AES-256-GCM ciphertext when a key is configured, "plain:"
		// otherwise. The notifier needs the secret itself to sign, so it
		// cannot be stored as a hash.
		field.String("webhook_secret").
			Optional().
			Nillable().
			Sensitive().
			MaxLen(512),
		field.Bool("email_enabled").
			Default(true),
		field.Bool("sms_enabled").
			Default(false),
		field.Bool("webhook_enabled").
			Default(false),
		field.Bool("in_app_enabled").
			Default(true),
		field.JSON("categories", map[string]CategoryPreference{}).
			Optional(),
		// Quiet hours: local wall-clock times "HH:MM" in quiet_time_zone. All
		// three are set together or all NULL.
		field.String("quiet_start").
			Optional().
			Nillable().
			MaxLen(5),
		field.String("quiet_end").
			Optional().
			Nillable().
			MaxLen(5),
		field.String("quiet_time_zone").
			Optional().
			Nillable().
			MaxLen(64),
		// Canonical BCP 47 tag used to pick templates.
		field.String("locale").
			Default("en").
			MaxLen(35),
		// Maintained from OrderCreated events (see processed_events).
		field.Int64("order_count").
			Default(0),
		field.Time("last_order_at").
			Optional().
			Nillable(),
		field.Time("deleted_at").
			Optional().
			Nillable(),
		field.Time("created_at").
			Default(now).
			Immutable(),
		field.Time("updated_at").
			Default(now).
			UpdateDefault(now),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		// The users connection pages in (created_at, id) order.
		index.Fields("created_at", "id"),
	}
}

// ProcessedEvent is the users service's inbox: one row per consumed event
// id, inserted in the same transaction as the event's effect, so a
// redelivered event is recognised and changes nothing.
type ProcessedEvent struct {
	ent.Schema
}

// Fields of the ProcessedEvent.
func (ProcessedEvent) Fields() []ent.Field {
	return []ent.Field{
		// The CloudEvents ce_id.
		field.String("id").
			NotEmpty().
			Immutable().
			MaxLen(200),
		field.String("type").
			Immutable().
			MaxLen(200),
		field.Time("processed_at").
			Default(now).
			Immutable(),
	}
}

// now is the clock for timestamps: UTC, truncated to the microsecond that
// PostgreSQL stores, so a value returned on creation equals the value read
// back later on every database.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
