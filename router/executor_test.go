package router

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/identity"
	"github.com/jensneuse/abstractlogger"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/execution/engine"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
)

func TestCacheable(t *testing.T) {
	x := &executor{client: mustSchema(t, `
type Query { user(id: ID!): User  users(ids: [ID!]): [User]  search(f: Filter, kind: Kind): [User] }
type User { id: ID! name: String email: String }
input Filter { name: String limit: Int = 10 }
enum Kind { A B }
scalar Upload
`)}
	tests := []struct {
		query string
		want  bool
	}{
		{`{ user(id: "u1") { name } }`, true},
		{`query($id: ID!) { user(id: $id) { name } }`, true},
		{`query($id: ID) { user(id: $id) { name } }`, true},
		{`query($k: Kind) { search(kind: $k) { name } }`, true},
		{`query($id: ID! @deprecated) { user(id: $id) { name email @include(if: true) } }`, true},
		{`query($id: ID! = "u1") { user(id: $id) { name } }`, false},
		{`query($id: ID!, $e: Boolean!) { user(id: $id) { name email @include(if: $e) } }`, false},
		{`query($id: ID!, $e: Boolean!) { user(id: $id) { ...F } } fragment F on User { email @skip(if: $e) }`, false},
		{`query($ids: [ID!]) { users(ids: $ids) { name } }`, false},
		{`query($f: Filter) { search(f: $f) { name } }`, false},
		{`query($u: Upload) { user(id: "1") { name } }`, false},
		{`query($n: String) { search(f: {name: $n}) { name } }`, false},
		{`query($id: ID!) { users(ids: [$id]) { name } }`, false},
		{`query($id: ID!) { user(id: "1") { name } users(ids: ["1", "2"]) { email @include(if: true) } search(f: {name: "x"}) { name } }`, true},
	}
	for _, tt := range tests {
		doc, report := astparser.ParseGraphqlDocumentString(tt.query)
		if report.HasErrors() {
			t.Fatalf("%s: %v", tt.query, report)
		}
		if got, _ := x.cacheable(&doc, selectedOperation(&doc, "")); got != tt.want {
			t.Errorf("cacheable(%s) = %v, want %v", tt.query, got, tt.want)
		}
	}
}

func mustSchema(t *testing.T, sdl string) *graphql.Schema {
	t.Helper()
	s, err := graphql.NewSchemaFromString(sdl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMergeVariables(t *testing.T) {
	tests := []struct{ vars, extracted, want string }{
		{``, ``, ``},
		{`{"id":"u1"}`, ``, `{"id":"u1"}`},
		{``, `"a":"u1"`, `{"a":"u1"}`},
		{`{}`, `"a":"u1"`, `{"a":"u1"}`},
		{` { } `, `"a":1`, `{"a":1}`},
		{`{"id":"u1"}`, `"a":1,"b":"x"`, `{"id":"u1","a":1,"b":"x"}`},
	}
	for _, tt := range tests {
		if got := string(mergeVariables([]byte(tt.vars), []byte(tt.extracted))); got != tt.want {
			t.Errorf("mergeVariables(%q, %q) = %q, want %q", tt.vars, tt.extracted, got, tt.want)
		}
	}
}

// The operation cache must never change an answer: every request below is
// answered by the router's executor twice (the second time from its
// operation cache where that is allowed) and by graphql-go-tools' own
// engine, which prepares every request from scratch; the three answers must
// be byte-identical. The requests vary exactly what normalisation depends
// on: variable values, @include conditions, default values, input objects,
// undeclared variables, operation names.
func TestOperationCacheAnswersLikeTheEngine(t *testing.T) {
	// The library engine has no authorizer: the executor runs as an operator.
	ctx, cancel := context.WithCancel(identity.With(context.Background(), operatorIdentity))
	defer cancel()
	users, orders := newUsersFake(t), newOrdersFake(t)
	// orders(status, first): an answer that depends on the enum argument.
	orders.root["orders"] = func(args map[string]any) (any, *fakeError) {
		return map[string]any{"edges": []any{}, "pageInfo": map[string]any{
			"hasNextPage": args["status"] == "CREATED", "endCursor": nil}}, nil
	}
	rc, cfg := composeForTest(ctx, t, Subgraph{Name: "users", URL: users.URL()}, Subgraph{Name: "orders", URL: orders.URL()})
	client := newSubgraphClient(cfg)
	x, err := newEngine(ctx, cfg, rc, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := engine.NewFederationEngineConfigFactory(ctx, engine.WithFederationHttpClient(client)).BuildEngineConfiguration(rc)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := engine.NewExecutionEngine(ctx, abstractlogger.NoopLogger, conf, resolverOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}

	const (
		byID     = `query U($id: ID!) { user(id: $id) { name } }`
		optional = `query U($id: ID!, $e: Boolean!) { user(id: $id) { name email @include(if: $e) } }`
		defaults = `query U($id: ID! = "u2") { user(id: $id) { name } }`
		twoOps   = `query A { user(id: "u1") { name } } query B { user(id: "u2") { name } }`
		create   = `mutation C($in: CreateOrderInput!) { createOrder(input: $in) { id } }`
		enumVar  = `query O($id: ID!, $s: OrderStatus) { order(id: $id) { id status } orders(status: $s, first: 1) { pageInfo { hasNextPage } } }`
	)
	tests := []struct {
		name, query, op, vars string
		cached                bool // the operation is in the cache afterwards
	}{
		{"literal arguments", `{ user(id: "u1") { name orders { id } } }`, "", ``, true},
		{"literal arguments again", `{ user(id: "u1") { name orders { id } } }`, "", `{}`, true},
		{"scalar variable", byID, "", `{"id":"u1"}`, true},
		{"scalar variable, other value", byID, "", `{"id":"u2"}`, true},
		{"scalar variable, unknown user", byID, "", `{"id":"u9"}`, true},
		{"required variable missing", byID, "", `{}`, true},
		{"required variable null", byID, "", `{"id":null}`, true},
		{"variable of the wrong type", byID, "", `{"id":{"x":1}}`, true},
		{"undeclared variable", byID, "", `{"id":"u2","other":1}`, true},
		{"include true", optional, "", `{"id":"u1","e":true}`, false},
		{"include false", optional, "", `{"id":"u1","e":false}`, false},
		{"default used", defaults, "", `{}`, false},
		{"default overridden", defaults, "", `{"id":"u1"}`, false},
		{"operation A", twoOps, "A", ``, true},
		{"operation B", twoOps, "B", ``, true},
		{"no operation name among two", twoOps, "", ``, false},
		{"input object", create, "", `{"in":{"userId":"u1","items":[],"currency":"EUR"}}`, false},
		{"input object, other value", create, "", `{"in":{"userId":"u1","items":[{"sku":"A","name":"A","quantity":1,"unitPriceMinor":1}],"currency":"EUR"}}`, false},
		{"enum variable", enumVar, "", `{"id":"o2","s":"CREATED"}`, true},
		{"enum variable absent", enumVar, "", `{"id":"o1"}`, true},
		{"enum variable invalid", enumVar, "", `{"id":"o1","s":"NOPE"}`, true},
		{"invalid field", `{ user(id: "u1") { nope } }`, "", ``, false},
		{"parse error", `{ user(id: "u1") { name }`, "", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer := func(run func(*graphql.Request, *bytes.Buffer) error) string {
				req := &graphql.Request{Query: tt.query, OperationName: tt.op}
				if tt.vars != "" {
					req.Variables = json.RawMessage(tt.vars)
				}
				var out bytes.Buffer
				if err := run(req, &out); err != nil {
					return "error: " + err.Error()
				}
				return out.String()
			}
			viaLib := answer(func(req *graphql.Request, out *bytes.Buffer) error {
				rw := graphql.NewEngineResultWriterFromBuffer(out)
				return lib.Execute(ctx, req, &rw)
			})
			viaExecutor := func(req *graphql.Request, out *bytes.Buffer) error {
				rw := graphql.NewEngineResultWriterFromBuffer(out)
				return x.Execute(ctx, req, &rw)
			}
			first, second := answer(viaExecutor), answer(viaExecutor)
			if first != viaLib || second != viaLib {
				t.Errorf("answers differ:\nengine:   %s\nexecutor: %s\ncached:   %s", viaLib, first, second)
			}
			key := opKey{query: sha256.Sum256([]byte(tt.query)), name: tt.op}
			if got := x.ops.Contains(key); got != tt.cached {
				t.Errorf("cached = %v, want %v (engine answer %s)", got, tt.cached, viaLib)
			}
		})
	}

	// Concurrent requests share one cached operation (its normalised
	// document and plan); each must still get its own answer.
	want := map[string]string{"u1": `{"data":{"user":{"name":"Ada Lovelace"}}}`, "u2": `{"data":{"user":{"name":"Bob Babbage"}}}`}
	errs := make(chan string, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				id := []string{"u1", "u2"}[(g+i)%2]
				var out bytes.Buffer
				rw := graphql.NewEngineResultWriterFromBuffer(&out)
				req := &graphql.Request{Query: byID, Variables: json.RawMessage(`{"id":"` + id + `"}`)}
				if err := x.Execute(ctx, req, &rw); err != nil || out.String() != want[id] {
					errs <- fmt.Sprintf("%s: %v %s", id, err, out.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// composeForTest composes running subgraphs from their _service SDL, as the
// router does at start-up, and returns the router config and a test
// configuration naming them.
func composeForTest(ctx context.Context, t testing.TB, sgs ...Subgraph) (*nodev1.RouterConfig, Config) {
	t.Helper()
	for i := range sgs {
		var err error
		if sgs[i].SDL, err = FetchSDL(ctx, http.DefaultClient, sgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := Compose(ctx, sgs)
	if err != nil {
		t.Fatal(err)
	}
	return rc, testConfig(sgs...).withDefaults()
}

// operatorIdentity is a caller every schema rule allows.
var operatorIdentity = identity.Identity{Subject: "operator", Scopes: []string{identity.OperatorScope}}
