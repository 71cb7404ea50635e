package router

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// fakeSubgraph is a real HTTP server speaking the federation protocol over
// fixed data: it answers _service { sdl }, _entities and its root fields by
// walking the query's selection sets over plain maps. It is schema-less on
// purpose: the router under test is what must send well-formed operations.
type fakeSubgraph struct {
	t    testing.TB
	sdl  string
	root map[string]resolver
	// entity resolves one representation; nil means "not found".
	entity resolver

	mu      sync.Mutex
	queries []string
	down    bool // answer 503 to everything, as a subgraph still starting
	srv     *httptest.Server
}

type fakeError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
	Locations  []any          `json:"locations,omitempty"`
}

func startFake(t testing.TB, f *fakeSubgraph) *fakeSubgraph {
	t.Helper()
	f.t = t
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSubgraph) URL() string { return f.srv.URL + "/graphql" }

func (f *fakeSubgraph) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeSubgraph) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

func (f *fakeSubgraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, req.Query)
	f.mu.Unlock()

	ex := &fakeExec{vars: req.Variables}
	if resp, ok := ex.answer(f.t, "fake subgraph", req.Query, f.sdl, f.root, f.entity); ok {
		writeFedJSON(w, resp)
	} else {
		http.Error(w, "bad query", http.StatusBadRequest)
	}
}

// fakeExec answers one operation by walking its selection sets over plain
// maps. Values that are functions are field resolvers taking the field's
// arguments.
type fakeExec struct {
	vars map[string]any
	// implements maps a concrete type to the interfaces and unions it
	// belongs to; without it a type condition matches its own type only.
	implements map[string][]string
	errs       []fakeError
}

// answer runs query: root fields through root, _entities through entity,
// _service with sdl. It fails the test and returns false when query is not
// one parsable operation.
func (ex *fakeExec) answer(t testing.TB, who, query, sdl string, root map[string]resolver, entity resolver) (map[string]any, bool) {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil || len(doc.Operations) != 1 {
		t.Errorf("%s got an unparsable query %q: %v", who, query, err)
		return nil, false
	}
	data := map[string]any{}
	for _, sel := range doc.Operations[0].SelectionSet {
		field, ok := sel.(*ast.Field)
		if !ok {
			t.Errorf("%s: unexpected root selection in %q", who, query)
			continue
		}
		key := responseKey(field)
		args := ex.args(field)
		switch field.Name {
		case "__typename":
			data[key] = "Query"
		case "_service":
			data[key] = ex.project(map[string]any{"sdl": sdl}, field.SelectionSet, []any{key})
		case "_entities":
			reps, _ := args["representations"].([]any)
			out := make([]any, len(reps))
			for i, rep := range reps {
				m, _ := rep.(map[string]any)
				out[i] = ex.resolve(entity, m, field.SelectionSet, []any{key, i})
			}
			data[key] = out
		default:
			fn, ok := root[field.Name]
			if !ok {
				t.Errorf("%s has no root field %q (query %q)", who, field.Name, query)
				data[key] = nil
				continue
			}
			data[key] = ex.resolve(fn, args, field.SelectionSet, []any{key})
		}
	}
	resp := map[string]any{"data": data}
	if len(ex.errs) > 0 {
		resp["errors"] = ex.errs
	}
	return resp, true
}

// resolve calls fn, records its error at path and projects its value.
func (ex *fakeExec) resolve(fn resolver, args map[string]any, sels ast.SelectionSet, path []any) any {
	v, ferr := fn(args)
	if ferr != nil {
		ferr.Path = path
		ex.errs = append(ex.errs, *ferr)
	}
	return ex.project(v, sels, path)
}

func writeFedJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func responseKey(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

func (ex *fakeExec) args(f *ast.Field) map[string]any {
	out := map[string]any{}
	for _, a := range f.Arguments {
		v, err := a.Value.Value(ex.vars)
		if err == nil {
			out[a.Name] = v
		}
	}
	return out
}

// project keeps what the selection set asks for.
func (ex *fakeExec) project(v any, sels ast.SelectionSet, path []any) any {
	if v == nil || len(sels) == 0 {
		return v
	}
	switch val := v.(type) {
	case []map[string]any:
		out := make([]any, len(val))
		for i, item := range val {
			out[i] = ex.project(item, sels, append(slices.Clip(path), i))
		}
		return out
	case []any:
		out := make([]any, len(val))
		for i, item := range val {
			out[i] = ex.project(item, sels, append(slices.Clip(path), i))
		}
		return out
	case map[string]any:
		out := map[string]any{}
		ex.collect(val, sels, out, path)
		return out
	}
	return v
}

func (ex *fakeExec) matches(obj map[string]any, cond string) bool {
	typename, _ := obj["__typename"].(string)
	return cond == "" || cond == typename || slices.Contains(ex.implements[typename], cond)
}

func (ex *fakeExec) collect(obj map[string]any, sels ast.SelectionSet, out map[string]any, path []any) {
	for _, sel := range sels {
		switch s := sel.(type) {
		case *ast.Field:
			key := responseKey(s)
			if s.Name == "__typename" {
				out[key] = obj["__typename"]
				continue
			}
			fieldPath := append(slices.Clip(path), key)
			v := obj[s.Name]
			if fn, ok := v.(resolver); ok {
				out[key] = ex.resolve(fn, ex.args(s), s.SelectionSet, fieldPath)
				continue
			}
			out[key] = ex.project(v, s.SelectionSet, fieldPath)
		case *ast.InlineFragment:
			if ex.matches(obj, s.TypeCondition) {
				ex.collect(obj, s.SelectionSet, out, path)
			}
		}
	}
}
