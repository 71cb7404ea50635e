package schema

import (
	"entgo.io/ent"

	"github.com/heraldhq/herald/ent/outboxschema"
)

// OutboxEvent is a message waiting to be published, written in the same
// transaction as the change it announces (its columns: outboxschema).
type OutboxEvent struct {
	ent.Schema
}

// Mixin of the OutboxEvent.
func (OutboxEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{outboxschema.Mixin{}}
}
