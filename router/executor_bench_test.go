package router

// Benchmarks of the paths the operation cache does not cover: operations
// prepared for every request, and operations received over WebSocket.

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/heraldhq/herald/bench/router/subgraphs"
)

// uncachedQuery turns a benchmark query into one the operation cache cannot
// hold: with a variable @include condition normalisation depends on the
// variable's value, so it is parsed, normalised and validated for every
// request (the plan cache still hits). With $yes true the answer is the
// query's own.
func uncachedQuery(b *testing.B, q string) string {
	const root = " { topProducts(first: 5) {"
	if !strings.Contains(q, root) {
		b.Fatalf("query %q has no %q", q, root)
	}
	return strings.Replace(q, root, "($yes: Boolean!) { topProducts(first: 5) @include(if: $yes) {", 1)
}

var yes = json.RawMessage(`{"yes":true}`)

// BenchmarkExecuteUncached: the executor's whole path for an operation
// that is not in the operation cache: parse, normalise, validate, plan
// cache hit, Resolve.
func BenchmarkExecuteUncached(b *testing.B) {
	env := loadBenchEnv(b)
	ctx := context.Background()
	for _, name := range benchQueries {
		q := uncachedQuery(b, subgraphs.Queries[name].Router)
		env.benchAnswer(b, name, name, func(out *bytes.Buffer) error {
			req := graphql.Request{Query: q, Variables: yes}
			rw := graphql.NewEngineResultWriterFromBuffer(out)
			return env.eng.Execute(ctx, &req, &rw)
		})
	}
}

// BenchmarkWebSocketOperation: what the subscription server runs for one
// operation received over graphql-transport-ws (the checks of limits and
// introspection, then execution), with the operation in the operation
// cache and not.
func BenchmarkWebSocketOperation(b *testing.B) {
	env := loadBenchEnv(b)
	ctx := b.Context() // ends the subscription server with the benchmark
	h := benchHandler(ctx, env.cfg, env.eng)
	for _, name := range benchQueries {
		for _, cached := range []bool{true, false} {
			q, vars, label := subgraphs.Queries[name].Router, json.RawMessage(nil), name+"/cached"
			if !cached {
				q, vars, label = uncachedQuery(b, q), yes, name+"/uncached"
			}
			env.benchAnswer(b, label, name, func(out *bytes.Buffer) error {
				req := graphql.Request{Query: q, Variables: vars}
				rw := graphql.NewEngineResultWriterFromBuffer(out)
				return benchWSRun(ctx, h, &req, &rw)
			})
		}
	}
}

// benchWSRun is what the subscription server runs for one WebSocket
// operation: the engine handler.currentEngine gives it, which checks the
// operation and runs it.
func benchWSRun(ctx context.Context, h *handler, req *graphql.Request, w resolve.SubscriptionResponseWriter) error {
	return h.currentEngine().Execute(ctx, req, w)
}
