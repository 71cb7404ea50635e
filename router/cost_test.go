package router

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/router/internal/gqlwire"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
)

// committedClientSchema is the client schema of schema/supergraph.json,
// the composition Herald deploys.
func committedClientSchema(t testing.TB) *ast.Document {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "schema", "supergraph.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		EngineConfig struct {
			GraphqlClientSchema string `json:"graphqlClientSchema"`
		} `json:"engineConfig"`
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	s, err := graphql.NewSchemaFromString(rc.EngineConfig.GraphqlClientSchema)
	if err != nil {
		t.Fatal(err)
	}
	return s.Document()
}

// millionRows asks for 100 orders of the buyer of each of 100 orders of
// the buyer of each of 100 orders: a million rows from 200 bytes.
const millionRows = `query($u: ID!){ user(id:$u){ orders(first:100){ user{ orders(first:100){ user{ orders(first:100){ id } } } } } } }`

func TestCostEstimate(t *testing.T) {
	schema := committedClientSchema(t)
	const pages = `query($u: ID!, $n: Int){ user(id:$u){ orders(first:$n){ user{ orders(first:$n){ user{ orders(first:$n){ id } } } } } } }`
	tests := []struct {
		name, query, vars string
		want              int
	}{
		{"README query: orders default to their schema default of 20",
			`query { user(id: "u1") { email preferences { email } orders { id totalMinor currency } } }`, ``, 1 + 1 + 2 + 20*4},
		{"million rows", millionRows, `{"u":"u1"}`, 2020201},
		{"sizes from variables", pages, `{"u":"u1","n":2}`, 29},
		{"variable absent: the schema default", pages, `{"u":"u1"}`, 16841},
		{"variable null: the schema default", pages, `{"u":"u1","n":null}`, 16841},
		{"variable negative: empty lists", pages, `{"u":"u1","n":-4}`, 1},
		{"variable too large to read", pages, `{"u":"u1","n":123456789012345678901234567890}`, saturate},
		{"variable default", `query($n: Int = 3){ user(id:"u1"){ orders(first:$n){ id } } }`, ``, 1 + 3*2},
		{"literal too large", `{ user(id:"u1"){ orders(first:99999999999999999999){ id } } }`, ``, saturate},
		{"connection: first sizes edges, not pageInfo",
			`{ orders(first: 100) { edges { cursor node { id items { sku } } } pageInfo { hasNextPage } } }`, ``,
			1 + 2 + 100*(1+1+(1+1+20*2))},
		{"connection through a fragment",
			`query($n: Int) { orders(first: $n) { ...C } } fragment C on OrderConnection { edges { node { id } } }`, `{"n":5}`, 1 + 5*3},
		{"connection through an inline fragment",
			`{ orders(first: 7) { ... on OrderConnection { edges { node { id } } } } }`, ``, 1 + 7*3},
		{"no schema default: the default list size", `{ users { edges { node { id } } } }`, ``, 1 + 20*3},
		{"a fragment spread twice counts twice",
			`{ a: user(id:"u1") { ...U } b: user(id:"u2") { ...U } } fragment U on User { id orders(first: 5) { id } }`, ``, 2 * (1 + 1 + 5*2)},
		{"introspection counts one", `{ __schema { types { name fields { name type { fields { name } } } } } }`, ``, 1},
		{"__typename counts one", `{ __typename }`, ``, 1},
		{"unknown field counts one", `{ nope { a { b } } }`, ``, 3},
		{"fragment cycle ends", `{ ...F } fragment F on Query { user(id:"u1") { id } ...G } fragment G on Query { ...F }`, ``, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, report := astparser.ParseGraphqlDocumentString(tt.query)
			if report.HasErrors() {
				t.Fatal(report.Error())
			}
			p := newCostPlan(&doc, schema, operationRef(&doc, ""), DefaultListSize)
			if got := p.estimate([]byte(tt.vars)); got != tt.want {
				t.Errorf("cost = %d, want %d", got, tt.want)
			}
			if want := strings.Contains(tt.query, "first:$") || strings.Contains(tt.query, "first: $"); p.dynamic != want {
				t.Errorf("dynamic = %v: only sizes from variables are read per request", p.dynamic)
			}
		})
	}
}

// A fragment bomb is costed in one linear walk: each fragment once.
func TestCostFragmentBombIsLinear(t *testing.T) {
	schema := committedClientSchema(t)
	q := strings.ReplaceAll(fragmentBomb(80), `\"`, `"`)
	doc, report := astparser.ParseGraphqlDocumentString(q)
	if report.HasErrors() {
		t.Fatal(report.Error())
	}
	p := newCostPlan(&doc, schema, operationRef(&doc, ""), DefaultListSize)
	if c := p.estimate(nil); c != saturate {
		t.Errorf("cost = %d, want the saturated %d", c, saturate)
	}
	e := (Limits{}).withDefaults().checkCost(p, nil)
	if e == nil || e.code != gqlwire.CodeQueryTooExpensive || !strings.Contains(e.message, "more than 1099511627776") {
		t.Errorf("checkCost = %+v", e)
	}
}

// The GraphiQL introspection query and every operation in README.md and
// docs/*.md (```graphql blocks) pass the default limits on the committed
// composition: scan, depth, fields, aliases and cost.
func TestDocumentedQueriesFitTheDefaults(t *testing.T) {
	schema := committedClientSchema(t)
	limits := (Limits{}).withDefaults()
	docs, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	docs = append(docs, filepath.Join("..", "README.md"))
	blocks := []string{introspectionQuery}
	fence := regexp.MustCompile("(?s)```graphql\n(.*?)```")
	for _, path := range docs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
			blocks = append(blocks, strings.ReplaceAll(m[1], "<id>", "u1"))
		}
	}
	operations := 0
	for _, q := range blocks {
		if err := limits.scan(q); err != nil {
			t.Errorf("scan refuses %q: %v", q, err)
		}
		doc, report := astparser.ParseGraphqlDocumentString(q)
		if report.HasErrors() {
			t.Fatalf("%q: %s", q, report.Error())
		}
		for ref, def := range doc.OperationDefinitions {
			operations++
			m := measurer{doc: &doc}
			st := m.selectionSet(def.SelectionSet)
			if e := limits.check(st, false); e != nil {
				t.Errorf("%q is refused: %s", q, e.message)
			}
			p := newCostPlan(&doc, schema, ref, limits.DefaultListSize)
			if e := limits.checkCost(p, nil); e != nil {
				t.Errorf("%q is refused: %s", q, e.message)
			}
			t.Logf("cost %d: %.80s", p.estimate(nil), strings.Join(strings.Fields(q), " "))
		}
	}
	// The introspection query and README's four operations at least.
	if operations < 5 {
		t.Errorf("found %d documented operations, want at least 5", operations)
	}
}
