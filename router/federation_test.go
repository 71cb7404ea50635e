package router

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/buger/jsonparser"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/federation")

// fedLink is the federation v2 header every test subgraph starts with.
func fedLink(imports ...string) string {
	q := make([]string, len(imports))
	for i, s := range imports {
		q[i] = `"` + s + `"`
	}
	return "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [" + strings.Join(q, ", ") + "])\n"
}

// fedOp is one client operation of a federation case.
type fedOp struct {
	name      string
	query     string
	variables map[string]any
	// check adds assertions on what the subgraphs saw, beyond the golden
	// file (which records it too), for the property the case is about.
	check func(t *testing.T, sgs map[string]*fedSubgraph)
}

// fedCase is a small purpose-built graph and the operations run against it.
type fedCase struct {
	name      string // golden file testdata/federation/<name>.json
	subgraphs []fedSpec
	// setup may change subgraphs after the router is ready (a subgraph
	// going down for the partial-data case).
	setup func(t *testing.T, sgs map[string]*fedSubgraph)
	ops   []fedOp
}

// goldenOp is what the golden file records for one operation: the exact
// response and every request each subgraph received for it.
type goldenOp struct {
	Name             string                       `json:"name"`
	Query            string                       `json:"query"`
	Variables        map[string]any               `json:"variables,omitempty"`
	Response         json.RawMessage              `json:"response"`
	SubgraphRequests map[string][]subgraphRequest `json:"subgraphRequests"`
}

// runFedCase composes the case's subgraphs through the real router (router.Run
// composing from each subgraph's _service SDL), runs every operation and
// compares the results with the golden file.
func runFedCase(t *testing.T, c fedCase) map[string]*fedSubgraph {
	t.Helper()
	tr, sgs := startFedCase(t, c)
	var got []goldenOp
	for _, op := range c.ops {
		r := askFed(t, tr, sgs, op.query, op.variables)
		if r.status != 200 {
			t.Errorf("%s: status %d, body %s", op.name, r.status, r.body)
		}
		if !json.Valid([]byte(r.body)) {
			t.Fatalf("%s: response is not JSON: %s", op.name, r.body)
		}
		g := goldenOp{Name: op.name, Query: op.query, Variables: op.variables, Response: json.RawMessage(sortErrors(t, r.body)),
			SubgraphRequests: map[string][]subgraphRequest{}}
		for name, s := range sgs {
			g.SubgraphRequests[name] = s.requests()
		}
		if op.check != nil {
			t.Run(op.name, func(t *testing.T) { op.check(t, sgs) })
		}
		got = append(got, g)
	}
	compareGolden(t, c.name, got)
	return sgs
}

// startFedSubgraphs starts a subgraph per spec, by name, and lists them
// for the router's configuration.
func startFedSubgraphs(t *testing.T, specs []fedSpec) (map[string]*fedSubgraph, []Subgraph) {
	t.Helper()
	sgs := map[string]*fedSubgraph{}
	var list []Subgraph
	for _, spec := range specs {
		s := startFedSubgraph(t, spec)
		sgs[spec.name] = s
		list = append(list, s.subgraph())
	}
	return sgs, list
}

// startFedCase starts the case's subgraphs and the router over them, ready
// and set up.
func startFedCase(t *testing.T, c fedCase) (*testRouter, map[string]*fedSubgraph) {
	t.Helper()
	sgs, list := startFedSubgraphs(t, c.subgraphs)
	tr := startRouter(t, testConfig(list...))
	tr.waitReady(t)
	if c.setup != nil {
		c.setup(t, sgs)
	}
	return tr, sgs
}

// askFed posts one operation to the router, with the subgraphs' request
// logs emptied first so that they hold what this operation caused.
func askFed(t *testing.T, tr *testRouter, sgs map[string]*fedSubgraph, query string, variables map[string]any) httpResult {
	t.Helper()
	for _, s := range sgs {
		s.reset()
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		t.Fatal(err)
	}
	return postJSON(t, tr.url+"/graphql", string(body))
}

// sortErrors puts the response's top-level errors in a fixed order (by
// their bytes), leaving everything else as it is. The engine merges the
// results of parallel fetches as they arrive, so errors from two subgraphs
// asked at once come in either order; GraphQL does not order errors.
func sortErrors(t *testing.T, body string) []byte {
	t.Helper()
	b := []byte(body)
	var errs [][]byte
	_, err := jsonparser.ArrayEach(b, func(v []byte, _ jsonparser.ValueType, _ int, _ error) {
		errs = append(errs, v)
	}, "errors")
	if err != nil || len(errs) < 2 {
		return b
	}
	slices.SortFunc(errs, bytes.Compare)
	sorted := append(append([]byte{'['}, bytes.Join(errs, []byte{','})...), ']')
	out, err := jsonparser.Set(b, sorted, "errors")
	if err != nil {
		t.Fatalf("sort errors of %s: %v", body, err)
	}
	return out
}

// compareGolden compares ops with testdata/federation/<name>.json. Responses
// are kept byte for byte apart from indentation (json.Indent keeps key order
// and values), so the comparison is exact.
func compareGolden(t *testing.T, name string, ops []goldenOp) {
	t.Helper()
	got, err := json.MarshalIndent(ops, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "federation", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./router -run %s -update to create it)", err, t.Name())
	}
	if bytes.Equal(got, want) {
		return
	}
	var wantOps []goldenOp
	if err := json.Unmarshal(want, &wantOps); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i, g := range ops {
		if i >= len(wantOps) {
			t.Errorf("operation %q is not in %s", g.Name, path)
			continue
		}
		w := wantOps[i]
		gb, _ := json.Marshal(g.Response)
		wb, _ := json.Marshal(w.Response)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s: response\n got: %s\nwant: %s", g.Name, gb, wb)
		}
		gs, _ := json.Marshal(g.SubgraphRequests)
		ws, _ := json.Marshal(w.SubgraphRequests)
		if !bytes.Equal(gs, ws) {
			t.Errorf("%s: subgraph requests\n got: %s\nwant: %s", g.Name, gs, ws)
		}
	}
	t.Errorf("%s differs from this run (inspect, then -update if the change is intended)", path)
}

// --- assertions shared by the cases ---

// wantNoRequests fails when any of the named subgraphs was asked anything.
func wantNoRequests(names ...string) func(*testing.T, map[string]*fedSubgraph) {
	return func(t *testing.T, sgs map[string]*fedSubgraph) {
		for _, n := range names {
			if reqs := sgs[n].requests(); len(reqs) != 0 {
				t.Errorf("subgraph %s was asked %d operation(s), want none: %+v", n, len(reqs), reqs)
			}
		}
	}
}

// wantOneBatch asserts that subgraph name received exactly one operation,
// an _entities fetch carrying n representations.
func wantOneBatch(name string, n int) func(*testing.T, map[string]*fedSubgraph) {
	return func(t *testing.T, sgs map[string]*fedSubgraph) {
		reqs := sgs[name].requests()
		batches := entitiesRequests(t, reqs)
		if len(reqs) != 1 || len(batches) != 1 || batches[0] != n {
			t.Errorf("subgraph %s: %d request(s), _entities batches %v; want one batch of %d: %+v", name, len(reqs), batches, n, reqs)
		}
	}
}

func allOf(checks ...func(*testing.T, map[string]*fedSubgraph)) func(*testing.T, map[string]*fedSubgraph) {
	return func(t *testing.T, sgs map[string]*fedSubgraph) {
		for _, c := range checks {
			c(t, sgs)
		}
	}
}

// queryMentions fails unless every request subgraph name got contains sub
// (or, with want=false, none does).
func queryMentions(name, sub string, want bool) func(*testing.T, map[string]*fedSubgraph) {
	return func(t *testing.T, sgs map[string]*fedSubgraph) {
		reqs := sgs[name].requests()
		if want && len(reqs) == 0 {
			t.Errorf("subgraph %s got no request, want one selecting %s", name, sub)
		}
		for _, r := range reqs {
			if strings.Contains(r.Query+string(r.Variables), sub) != want {
				t.Errorf("subgraph %s request %q (variables %s): contains %q = %v, want %v", name, r.Query, r.Variables, sub, !want, want)
			}
		}
	}
}

// byID builds an entity resolver over fixed objects keyed by one field.
func byID(field string, objs ...map[string]any) func(map[string]any) (any, *fakeError) {
	return func(rep map[string]any) (any, *fakeError) {
		for _, o := range objs {
			if o[field] == rep[field] {
				return o, nil
			}
		}
		return nil, nil
	}
}

func listOf(objs ...map[string]any) func(map[string]any) (any, *fakeError) {
	return func(map[string]any) (any, *fakeError) {
		out := make([]any, len(objs))
		for i, o := range objs {
			out[i] = o
		}
		return out, nil
	}
}

func TestFederationDirectives(t *testing.T) {
	for _, c := range directiveCases() {
		t.Run(c.name, func(t *testing.T) { runFedCase(t, c) })
	}
}
