package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Order is one purchase by one user. Amounts are integer minor units of
// Currency so that no floating point ever touches money.
type Order struct {
	ent.Schema
}

// Fields of the Order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		// A UUID as text: it travels as the GraphQL ID and the CloudEvent
		// subject, and text keeps SQLite and PostgreSQL identical.
		field.String("id").NotEmpty().Immutable().MaxLen(36),
		field.String("user_id").NotEmpty().Immutable(),
		field.String("currency").NotEmpty().MinLen(3).MaxLen(3),
		field.Int64("total_minor").Min(0),
		field.Enum("status").Values("CREATED", "CANCELLED").Default("CREATED"),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Edges of the Order.
func (Order) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("items", OrderItem.Type),
	}
}

// Indexes of the Order.
func (Order) Indexes() []ent.Index {
	return []ent.Index{
		// User.orders lists a user's orders newest first.
		index.Fields("user_id", "created_at"),
	}
}
