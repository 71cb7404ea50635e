package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// OrderItem is one line of an order.
type OrderItem struct {
	ent.Schema
}

// Fields of the OrderItem.
func (OrderItem) Fields() []ent.Field {
	return []ent.Field{
		// Position keeps the lines in the order the client sent them.
		field.Int("position").Min(0).Immutable(),
		field.String("sku").NotEmpty().Immutable(),
		field.String("name").NotEmpty().Immutable(),
		field.Int("quantity").Positive().Immutable(),
		field.Int64("unit_price_minor").Min(0).Immutable(),
	}
}

// Edges of the OrderItem.
func (OrderItem) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("items").Unique().Required().Immutable(),
	}
}
