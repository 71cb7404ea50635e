package schema

import (
	"slices"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/events"
)

// statusSending is the row status of a delivery a worker claimed: internal,
// never published, so not one of events.Statuses.
const statusSending = "SENDING"

// Delivery is one notification on one channel for one event. Workers send
// from these rows, so a slow channel never stalls the stream.
//
// Status moves forward only (notifier/status.go holds the transition table):
// PENDING | DEFERRED → SENDING (claimed by a worker until next_attempt_at,
// the lease) → SENT | RETRYING | FAILED | SKIPPED; RETRYING → SENDING again.
// SKIPPED rows are never sent. A SENDING row whose lease expired belongs to
// a worker that died and is claimed again. public_status is the last status
// published (SENDING is internal and never published).
type Delivery struct {
	ent.Schema
}

// Fields of the Delivery.
func (Delivery) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.String("event_id").NotEmpty().Immutable(),
		field.String("event_type").Default("").Immutable(),
		field.String("order_id").NotEmpty().Immutable(),
		field.String("user_id").NotEmpty().Immutable(),
		// The channel's name (notifier/channel.Kind.Name). Not an enum: the
		// registered channel kinds are the one list of channels, and the
		// consumer writes no other name.
		field.String("channel").NotEmpty().Immutable(),
		field.String("category").Default("").Immutable(),
		field.Bool("critical").Default(false).Immutable(),
		field.String("locale").Default("").Immutable(),
		field.String("recipient").Default("").Comment("email address, phone or URL; mask before logging").Sensitive(),
		field.String("secret").Default("").Comment("channel key material (webhook signing secret)").Sensitive(),
		field.Enum("status").Values(slices.Concat(events.Statuses, []string{statusSending})...).Default(events.StatusPending),
		field.Enum("public_status").Values(events.Statuses...).Default(events.StatusPending),
		field.Time("status_at").Default(time.Now).Comment("time of the last published status (status events of one delivery have increasing times)"),
		field.Int("attempts").Default(0).NonNegative(),
		field.Time("next_attempt_at").Default(time.Now).Comment("when PENDING/DEFERRED/RETRYING: due time; when SENDING: lease expiry"),
		field.String("last_error").Default("").SchemaType(map[string]string{dialect.Postgres: "text"}),
		field.String("message_id").Default(""),
		field.String("subject").Default(""),
		field.Text("body").Default("").Comment("plain-text body"),
		field.Text("html_body").Default(""),
		field.Bytes("payload").Optional().Comment("the event data (JSON) the delivery was made from"),
		field.String("traceparent").Default("").Immutable().Comment("W3C traceparent of the consumed event, carried onto its status events"),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("sent_at").Optional().Nillable(),
	}
}

// Indexes of the Delivery.
func (Delivery) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("event_id", "channel").Unique(),
		index.Fields("status", "next_attempt_at"),
	}
}
