package schema

import "github.com/heraldhq/herald/ent/outboxschema"

// OutboxEvent is a message waiting to be published, written in the same
// transaction as the change it announces (its columns: outboxschema).
type OutboxEvent struct {
	outboxschema.OutboxEvent
}
