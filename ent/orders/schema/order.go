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
		// CREATED → CANCELLED is the only transition (docs/orders.md).
		field.Enum("status").Values("CREATED", "CANCELLED").Default("CREATED"),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now),
		field.Time("cancelled_at").Optional().Nillable(),
		field.String("cancel_reason").Optional().Nillable(),
		// The client's idempotency key, scoped to the user, and the
		// SHA-256 (hex) of the canonical order it was first used with.
		field.String("idempotency_key").Optional().Nillable().Immutable().MaxLen(200),
		field.String("request_hash").Optional().Nillable().Immutable().MaxLen(64),
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
		// Keyset pagination, newest first: a user's orders
		// (User.orders, orders(userId:)) and everyone's (orders()).
		index.Fields("user_id", "created_at", "id"),
		index.Fields("created_at", "id"),
		// One order per key and user, enforced by the database so that
		// concurrent retries cannot both insert (NULL keys never collide).
		index.Fields("user_id", "idempotency_key").Unique(),
	}
}
