// Package schema holds the ent schema of the users service.
package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// User is a person Herald notifies, with their contact details and the
// channels they accept notifications on.
type User struct {
	ent.Schema
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// A server-generated UUID string: opaque to clients, unguessable, and
		// usable as a stream key by other services without a lookup.
		field.String("id").
			DefaultFunc(uuid.NewString).
			Immutable().
			NotEmpty().
			MaxLen(36),
		// Counted in characters, like PostgreSQL's varchar(200).
		field.String("name").
			NotEmpty().
			MaxRuneLen(200),
		// Stored lower-cased by the resolver; the unique index then makes
		// addresses that differ only in case collide.
		field.String("email").
			NotEmpty().
			MaxLen(254). // RFC 5321's limit on a forward path
			Unique(),
		// E.164 ("+4915112345678"), or NULL when unknown.
		field.String("phone").
			Optional().
			Nillable().
			MaxLen(16),
		field.Bool("email_enabled").
			Default(true),
		field.Bool("sms_enabled").
			Default(false),
		field.Time("created_at").
			Default(time.Now).
			Immutable(),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now),
	}
}
