package schema

import (
	"slices"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/events"
)

// StatusEvent is one status transition of one delivery: the durable history
// behind the NotificationStatus events. It is written in the same
// transaction as the delivery row's change and the outbox row that
// publishes it; its id is the published event's ce_id.
type StatusEvent struct {
	ent.Schema
}

// Fields of the StatusEvent.
func (StatusEvent) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Immutable(),
		field.UUID("delivery_id", uuid.UUID{}).Immutable(),
		field.String("event_id").Immutable(),
		field.String("order_id").Immutable(),
		field.String("user_id").Immutable(),
		field.String("channel").Immutable(),
		// NONE: the delivery's first status.
		field.Enum("from_status").Values(slices.Concat([]string{"NONE"}, events.Statuses)...).Immutable(),
		field.Enum("status").Values(events.Statuses...).Immutable(),
		field.Int("attempt").Immutable(),
		field.String("reason").Default("").Immutable().SchemaType(map[string]string{dialect.Postgres: "text"}),
		field.Time("next_attempt_at").Optional().Nillable().Immutable(),
		field.Time("at").Immutable(),
	}
}

// Indexes of the StatusEvent.
func (StatusEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("delivery_id", "at"),
		// Retention cleanup deletes by age.
		index.Fields("at"),
	}
}
