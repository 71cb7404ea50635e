package router

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
)

// The operation cache is a shortcut past normalisation and planning; it must
// never change what the router asks a subgraph or what it answers. These
// tests run the same requests through an executor that keeps its operation
// cache and through one whose cache is emptied before every request, and
// require identical subgraph requests (query text and variables) and
// identical answers. The echo subgraph returns the arguments it was given,
// so a value taken from an earlier request shows up in the answer too.

const echoSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
scalar JSON
enum Color { RED GREEN BLUE }
input Inner { id: ID, color: Color, n: Int = 7, tags: [String!], j: JSON }
input Outer { id: ID, inner: Inner, inners: [Inner!], ids: [ID], n: Int = 3 }
type Query {
  echo(id: ID, n: Int, s: String, color: Color, j: JSON, in: Outer, ins: [Outer], ids: [ID!], grid: [[Int]], flag: Boolean = false): Echo
}
type Mutation { set(in: Outer!, color: Color): Echo }
type Echo @key(fields: "id") { id: ID! args: JSON color: Color }
`

// The second subgraph adds a field with arguments to the entity, so that
// variables also reach an _entities fetch.
const echoMoreSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
scalar JSON
enum Color { RED GREEN BLUE }
input Inner { id: ID, color: Color, n: Int = 7, tags: [String!], j: JSON }
input Outer { id: ID, inner: Inner, inners: [Inner!], ids: [ID], n: Int = 3 }
type Echo @key(fields: "id") { id: ID! more(in: Outer, color: Color, ids: [ID!]): JSON }
`

// echoGraph starts the two echo subgraphs and returns them with two
// executors over them: cached keeps its operation cache, fresh is emptied
// before each request by run.
type echoGraph struct {
	sgs           []*fedSubgraph
	cached, fresh *executor
}

func newEchoGraph(t testing.TB) *echoGraph {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	echoArgs := func(args map[string]any) (any, *fakeError) {
		id, _ := args["id"].(string)
		if id == "" {
			id = "e1"
		}
		color := args["color"]
		return map[string]any{"__typename": "Echo", "id": id, "args": args, "color": color}, nil
	}
	echo := startFedSubgraph(t, fedSpec{name: "echo", sdl: echoSDL,
		root: map[string]resolver{"echo": echoArgs, "set": echoArgs},
		entities: map[string]resolver{"Echo": func(rep map[string]any) (any, *fakeError) {
			return map[string]any{"__typename": "Echo", "id": rep["id"]}, nil
		}},
	})
	more := startFedSubgraph(t, fedSpec{name: "more", sdl: echoMoreSDL,
		entities: map[string]resolver{"Echo": func(rep map[string]any) (any, *fakeError) {
			return map[string]any{"__typename": "Echo", "id": rep["id"],
				"more": func(args map[string]any) (any, *fakeError) { return args, nil }}, nil
		}},
	})
	rc, cfg := composeForTest(ctx, t, echo.subgraph(), more.subgraph())
	g := &echoGraph{sgs: []*fedSubgraph{echo, more}}
	for _, x := range []**executor{&g.cached, &g.fresh} {
		var err error
		if *x, err = newEngine(ctx, cfg, rc, newSubgraphClient(cfg), nil); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// echoRun is what one request caused: the answer (or the error the executor
// returned) and every request each subgraph received for it.
type echoRun struct {
	Answer   string
	Requests [][]subgraphRequest
}

func (g *echoGraph) run(ctx context.Context, x *executor, query, opName, vars string) echoRun {
	if x == g.fresh {
		x.ops.Purge()
	}
	for _, s := range g.sgs {
		s.reset()
	}
	req := &graphql.Request{Query: query, OperationName: opName}
	if vars != "" {
		req.Variables = json.RawMessage(vars)
	}
	var out bytes.Buffer
	rw := graphql.NewEngineResultWriterFromBuffer(&out)
	var r echoRun
	if err := x.Execute(ctx, req, &rw); err != nil {
		r.Answer = "error: " + err.Error()
	} else {
		r.Answer = out.String()
	}
	for _, s := range g.sgs {
		r.Requests = append(r.Requests, s.requests())
	}
	return r
}

// compare runs one request through both executors and reports a difference.
func (g *echoGraph) compare(ctx context.Context, query, opName, vars string) (cached, fresh echoRun, same bool) {
	cached = g.run(ctx, g.cached, query, opName, vars)
	fresh = g.run(ctx, g.fresh, query, opName, vars)
	return cached, fresh, cached.String() == fresh.String()
}

func (r echoRun) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// opCacheCorpus places variables everywhere a client can put them. Each
// entry runs with every variable set in order, so later requests meet what
// earlier ones left in the cache (the first set is repeated to see a value
// come back, and sets that make two variables equal to see literals merge).
var opCacheCorpus = []struct {
	name, query, op string
	vars            []string
	cacheable       bool // the operation cache must serve it (the test is not vacuous)
}{
	{"top-level scalar", `query($id: ID) { echo(id: $id) { args } }`, "",
		[]string{`{"id":"A"}`, `{"id":"B"}`, `{"id":"B"}`, `{}`, `{"id":null}`, `{"id":"A"}`}, true},
	{"top-level non-null ID in a list literal", `query($id: ID!) { echo(ids: [$id, "x"]) { args } }`, "",
		[]string{`{"id":"A"}`, `{"id":"B"}`, `{"id":"x"}`, `{}`}, false},
	{"input object literal", `query($id: ID) { echo(in: {id: $id}) { args } }`, "",
		[]string{`{"id":"A"}`, `{"id":"B"}`, `{"id":"B"}`, `{"id":null}`, `{}`, `{"id":"A"}`}, false},
	{"nested input object and list literals", `query($c: Color, $id: ID, $t: String!) {
		echo(in: {inner: {color: $c, id: $id, tags: ["a", $t]}, inners: [{id: $id}, {color: $c, n: 1}], ids: [$id]}) { args } }`, "",
		[]string{`{"c":"RED","id":"A","t":"x"}`, `{"c":"BLUE","id":"B","t":"y"}`, `{"c":"RED","id":"A","t":"x"}`, `{"id":"C","t":"z"}`}, false},
	{"list of input objects literal", `query($a: ID, $b: ID) { echo(ins: [{id: $a}, {id: $b, inner: {id: $a}}]) { args } }`, "",
		[]string{`{"a":"1","b":"2"}`, `{"a":"3","b":"3"}`, `{"a":"4","b":"5"}`}, false},
	{"nested list literal", `query($n: Int) { echo(grid: [[1, $n], [$n]]) { args } }`, "",
		[]string{`{"n":1}`, `{"n":2}`, `{"n":null}`, `{}`}, false},
	{"enum", `query($c: Color) { echo(color: $c) { args color } }`, "",
		[]string{`{"c":"RED"}`, `{"c":"GREEN"}`, `{"c":"NOPE"}`, `{}`}, true},
	{"custom scalar", `query($j: JSON) { echo(j: $j) { args } }`, "",
		[]string{`{"j":{"a":1}}`, `{"j":[1,"x",null]}`, `{"j":"s"}`, `{"j":2.5}`, `{"j":{"a":1}}`}, true},
	{"custom scalar inside a literal", `query($j: JSON) { echo(in: {inner: {j: $j}}) { args } }`, "",
		[]string{`{"j":{"a":1}}`, `{"j":[1]}`, `{"j":"s"}`}, false},
	{"scalar default", `query($id: ID = "D") { echo(id: $id) { args } }`, "",
		[]string{`{}`, `{"id":"A"}`, `{}`, `{"id":null}`}, false},
	{"input object default", `query($o: Outer = {id: "Z", inner: {color: RED}}) { echo(in: $o) { args } }`, "",
		[]string{`{}`, `{"o":{"id":"A"}}`, `{}`}, false},
	{"input object variable", `query($o: Outer) { echo(in: $o) { args } }`, "",
		[]string{`{"o":{"id":"A"}}`, `{"o":{"id":"B","inner":{"n":1}}}`, `{"o":{}}`, `{"o":null}`, `{"o":"A"}`, `{"o":{"inner":"x"}}`, `{"o":1}`}, false},
	{"list variable coerced", `query($ids: [ID!]) { echo(ids: $ids) { args } }`, "",
		[]string{`{"ids":"A"}`, `{"ids":["A","B"]}`, `{"ids":[]}`}, false},
	{"argument default", `query($id: ID) { echo(id: $id) { args } echo2: echo(id: $id, flag: true) { args } }`, "",
		[]string{`{"id":"A"}`, `{"id":"B"}`}, true},
	{"skip and include", `query($s: Boolean!, $i: Boolean!, $id: ID) { echo(id: $id) { args id @skip(if: $s) color @include(if: $i) } }`, "",
		[]string{`{"s":true,"i":false,"id":"A"}`, `{"s":false,"i":true,"id":"B"}`, `{"s":true,"i":true,"id":"A"}`}, false},
	{"named fragment", `query($id: ID, $c: Color) { ...F } fragment F on Query { echo(in: {id: $id, inner: {color: $c}}) { args } }`, "",
		[]string{`{"id":"A","c":"RED"}`, `{"id":"B","c":"GREEN"}`}, false},
	{"inline fragment", `query($id: ID) { ... on Query { echo(id: $id) { args } } }`, "",
		[]string{`{"id":"A"}`, `{"id":"B"}`}, true},
	{"aliases over one variable each", `query($a: ID, $b: ID) { x: echo(id: $a) { args } y: echo(id: $b) { args } }`, "",
		[]string{`{"a":"1","b":"1"}`, `{"a":"1","b":"2"}`, `{"a":"3","b":"3"}`}, true},
	{"aliased literals that may look alike", `query($a: ID, $b: ID) { x: echo(in: {id: $a}) { args } y: echo(in: {id: $b}) { args } }`, "",
		[]string{`{"a":"1","b":"1"}`, `{"a":"1","b":"2"}`, `{"a":"3","b":"4"}`}, false},
	{"equal literals without variables", `{ x: echo(in: {id: "1"}) { args } y: echo(in: {id: "1"}) { args } z: echo(in: {id: "2"}) { args } }`, "",
		[]string{``, `{}`}, true},
	{"two operations, A", `query A($id: ID) { echo(in: {id: $id}) { args } } query B($id: ID) { echo(id: $id) { args } }`, "A",
		[]string{`{"id":"1"}`, `{"id":"2"}`}, false},
	// The check looks at the whole document, so B is not cached either.
	{"two operations, B", `query A($id: ID) { echo(in: {id: $id}) { args } } query B($id: ID) { echo(id: $id) { args } }`, "B",
		[]string{`{"id":"1"}`, `{"id":"2"}`}, false},
	{"two operations, both cacheable", `query A($id: ID) { echo(id: $id) { args } } query B($c: Color) { echo(color: $c) { args } }`, "B",
		[]string{`{"c":"RED"}`, `{"c":"BLUE"}`}, true},
	{"entity field arguments", `query($id: ID, $c: Color) { echo(id: "e1") { id more(in: {id: $id}, color: $c) } }`, "",
		[]string{`{"id":"A","c":"RED"}`, `{"id":"B","c":"BLUE"}`, `{"id":"A","c":"RED"}`}, false},
	{"entity field scalar arguments", `query($c: Color, $e: ID!) { echo(id: $e) { id more(color: $c, ids: ["k"]) } }`, "",
		[]string{`{"c":"RED","e":"e1"}`, `{"c":"BLUE","e":"e2"}`}, true},
	{"mutation input literal", `mutation($u: ID, $c: Color) { set(in: {id: $u, inner: {color: $c}}, color: $c) { args } }`, "",
		[]string{`{"u":"A","c":"RED"}`, `{"u":"B","c":"GREEN"}`, `{"u":"B","c":"GREEN"}`}, false},
	{"undeclared variables", `query($id: ID) { echo(id: $id) { args } }`, "",
		[]string{`{"id":"A","zz":1}`, `{"id":"B"}`, `{"id":"C","zz":{"x":1}}`}, true},
}

func TestOperationCacheDifferential(t *testing.T) {
	ctx := context.Background()
	g := newEchoGraph(t)
	for _, c := range opCacheCorpus {
		t.Run(c.name, func(t *testing.T) {
			for i, vars := range c.vars {
				cached, fresh, same := g.compare(ctx, c.query, c.op, vars)
				if !same {
					t.Errorf("request %d, variables %s: the operation cache changed what happened\nwith cache:    %s\nwithout cache: %s", i, vars, cached, fresh)
				}
				if strings.HasPrefix(fresh.Answer, "error:") || strings.Contains(fresh.Answer, `"errors"`) {
					t.Logf("request %d, variables %s: %s", i, vars, fresh.Answer)
				}
			}
			key := opKey{query: sha256.Sum256([]byte(c.query)), name: c.op}
			if got := g.cached.ops.Contains(key); got != c.cacheable {
				t.Errorf("in the operation cache: %v, want %v", got, c.cacheable)
			}
		})
	}
}

// The corpus's first answers, spelled out: a value from an earlier request
// must never come back (the defect the differential test was written for).
func TestOperationCacheKeepsEachRequestsValues(t *testing.T) {
	ctx := context.Background()
	g := newEchoGraph(t)
	const q = `mutation($u: ID) { set(in: {id: $u}) { args } }`
	for _, u := range []string{"A", "B", "B", "C"} {
		r := g.run(ctx, g.cached, q, "", `{"u":"`+u+`"}`)
		want := fmt.Sprintf(`{"data":{"set":{"args":{"in":{"id":%q,"n":3}}}}}`, u)
		if r.Answer != want {
			t.Fatalf("u=%s: answer %s, want %s", u, r.Answer, want)
		}
	}
}

// opCachePlacements are the places a fuzzed variable $v can sit, with its
// declared type.
var opCachePlacements = []struct{ typ, query string }{
	{"ID", `echo(id: $v) { args }`},
	{"ID", `echo(in: {id: $v}) { args }`},
	{"ID", `echo(in: {inner: {id: $v}, inners: [{id: $v}]}) { args }`},
	{"ID!", `echo(ids: [$v, "x"]) { args }`},
	{"Int", `echo(grid: [[$v], [1, $v]]) { args }`},
	{"Int", `echo(n: $v, in: {n: $v}) { args }`},
	{"Color", `echo(color: $v) { color args }`},
	{"Color", `echo(in: {inner: {color: $v}}) { args }`},
	{"JSON", `echo(j: $v) { args }`},
	{"JSON", `echo(in: {inner: {j: $v}}) { args }`},
	{"Outer", `echo(in: $v) { args }`},
	{"[Outer]", `echo(ins: $v) { args }`},
	{"String", `echo(s: $v) { args } again: echo(s: $v) { args }`},
	{"ID", `echo(id: "e1") { id more(in: {id: $v}) }`},
	{"Boolean!", `echo(id: "e") { args id @skip(if: $v) }`},
}

// FuzzOperationCache runs two requests with the same text and different
// values for $v through the cached and the emptied executor: every request
// must cause the same subgraph requests and answers on both. Seeds, one per
// kind of placement, are in testdata/fuzz/FuzzOperationCache.
func FuzzOperationCache(f *testing.F) {
	g := newEchoGraph(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, placement uint8, v1, v2 string) {
		p := opCachePlacements[int(placement)%len(opCachePlacements)]
		query := "query($v: " + p.typ + ") { " + p.query + " }"
		for _, v := range []string{v1, v2, v1} {
			if !json.Valid([]byte(v)) {
				b, _ := json.Marshal(v)
				v = string(b)
			}
			vars := `{"v":` + v + `}`
			if cached, fresh, same := g.compare(ctx, query, "", vars); !same {
				t.Fatalf("%s with %s: the operation cache changed what happened\nwith cache:    %s\nwithout cache: %s", query, vars, cached, fresh)
			}
		}
	})
}

// A normaliser whose walk stopped on an error must not serve the next
// request: the list-coercion visitor keeps the path of the variable it was
// in, and a reused one then wrote the next request's value under it
// ({"v":{"v":["A"]}} instead of {"v":["A"]}). Found by FuzzOperationCache,
// through a value of the wrong shape that extraction failed on (such values
// are now refused before extraction, so the normaliser is called directly).
func TestNormalizerNotReusedAfterError(t *testing.T) {
	g := newEchoGraph(t)
	schema := g.cached.client.Document()
	for range 3 {
		bad, _ := astparser.ParseGraphqlDocumentString(`query($v: Outer) { echo(in: $v) { args } }`)
		bad.Input.Variables = []byte(`{"v":"A"}`)
		var report operationreport.Report
		normalize(&bad, schema, "", extractors, &report)
		if !report.HasErrors() {
			t.Fatal("a string for an input object was extracted without an error")
		}
		good, _ := astparser.ParseGraphqlDocumentString(`query($v: [ID!]) { echo(ids: $v) { args } }`)
		good.Input.Variables = []byte(`{"v":"A"}`)
		report = operationreport.Report{}
		normalize(&good, schema, "", extractors, &report)
		if report.HasErrors() {
			t.Fatal(report)
		}
		if got := string(good.Input.Variables); got != `{"v":["A"]}` {
			t.Fatalf("variables after normalising = %s, want {\"v\":[\"A\"]}", got)
		}
	}
}
