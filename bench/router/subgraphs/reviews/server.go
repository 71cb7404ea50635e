package reviews

import (
	"net/http"

	"github.com/heraldhq/herald/bench/internal/gqlhandler"
	"github.com/heraldhq/herald/bench/router/subgraphs/reviews/generated"
)

// Handler serves the subgraph's GraphQL API (POST) over its fixed data.
func Handler() http.Handler {
	return gqlhandler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}))
}
