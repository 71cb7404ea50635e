package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// InboxEvent records an event the notifier has consumed. Its unique
// event_id (the CloudEvents ce_id) is what makes consumption idempotent:
// the row commits in the same transaction as the deliveries the event implies.
type InboxEvent struct {
	ent.Schema
}

// Fields of the InboxEvent.
func (InboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("event_id").NotEmpty().Unique().Immutable().Comment("CloudEvents ce_id"),
		field.String("topic").NotEmpty().Immutable(),
		field.Time("received_at").Default(time.Now).Immutable(),
	}
}
