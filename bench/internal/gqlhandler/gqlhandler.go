// Package gqlhandler builds the gqlgen HTTP handler of the benchmark
// subgraphs, configured as a production subgraph would be: POST only, with a
// parsed-query cache so repeated operations skip parsing and validation,
// and introspection (which federation's _service needs).
package gqlhandler

import (
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
)

// New returns a handler serving es over POST.
func New(es graphql.ExecutableSchema) *handler.Server {
	srv := handler.New(es)
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	// gqlgen serves _service { sdl } only with introspection on; the router
	// composes from it.
	srv.Use(extension.Introspection{})
	return srv
}
