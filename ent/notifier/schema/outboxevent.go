package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/heraldhq/herald/internal/stream"
)

// OutboxEvent is a NotificationStatus message waiting to be published,
// written in the same transaction as the status change it announces. Its
// columns are what internal/outbox.Relay reads: keep the names in step with
// that package.
type OutboxEvent struct {
	ent.Schema
}

// Fields of the OutboxEvent.
func (OutboxEvent) Fields() []ent.Field {
	return []ent.Field{
		// The CloudEvent id (ce_id) = the status history row id.
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

// Indexes of the OutboxEvent.
func (OutboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "created_at"),
	}
}
