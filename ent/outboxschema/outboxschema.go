// Package outboxschema is the ent schema of a transactional outbox table:
// the columns internal/outbox.Relay reads, declared once for every service
// that publishes through it (orders, notifier), whose schema packages
// embed it in their own OutboxEvent (ent wants a struct declared in the
// schema package itself). Keep the names in step with that package.
package outboxschema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/heraldhq/herald/internal/stream"
)

// OutboxEvent is a message waiting to be published, written in the same
// transaction as the change it announces.
type OutboxEvent struct {
	ent.Schema
}

// Fields of an outbox row.
func (OutboxEvent) Fields() []ent.Field {
	return []ent.Field{
		// The CloudEvent id (ce_id), so a published message can be traced
		// back to its row.
		field.String("id").NotEmpty().Immutable().MaxLen(36),
		field.String("topic").NotEmpty().Immutable(),
		field.String("key").Immutable(),
		field.JSON("headers", []stream.Header{}).Immutable(),
		field.Bytes("payload").Immutable(),
		field.Enum("status").Values("pending", "published").Default("pending"),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("published_at").Optional().Nillable(),
		field.Int("attempts").Default(0).NonNegative(),
		field.String("last_error").Optional(),
	}
}

// Indexes of an outbox row.
func (OutboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		// The relay claims pending rows oldest first and deletes old
		// published ones: both walk this index.
		index.Fields("status", "created_at"),
	}
}
