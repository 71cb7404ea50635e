package schema

import "github.com/heraldhq/herald/ent/outboxschema"

// OutboxEvent is a NotificationStatus message waiting to be published,
// written in the same transaction as the status change it announces (its
// columns: outboxschema). Its id, the CloudEvent id, is the status history
// row id.
type OutboxEvent struct {
	outboxschema.OutboxEvent
}
