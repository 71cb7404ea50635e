// Package deps pins libraries while the services that use them are written.
// Remove once every import below is used by real code.
package deps

import (
	_ "entgo.io/contrib/entgql"
	_ "entgo.io/ent"
	_ "entgo.io/ent/dialect/sql"
	_ "github.com/99designs/gqlgen/graphql/handler"
	_ "github.com/99designs/gqlgen/plugin/federation"
	_ "github.com/Khan/genqlient/graphql"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/wneessen/go-mail"
	_ "github.com/wundergraph/cosmo/composition-go"
	_ "github.com/wundergraph/graphql-go-tools/execution/engine"
	_ "github.com/wundergraph/graphql-go-tools/execution/graphql"
	_ "modernc.org/sqlite"
)
