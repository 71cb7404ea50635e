package router

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	root map[string]func(args map[string]any) (any, *fakeError)
	// entity resolves one representation; nil means "not found".
	entity func(rep map[string]any) (any, *fakeError)

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

	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil || len(doc.Operations) != 1 {
		f.t.Errorf("fake subgraph got an unparsable query %q: %v", req.Query, err)
		http.Error(w, "bad query", http.StatusBadRequest)
		return
	}
	op := doc.Operations[0]
	ex := &fakeExec{vars: req.Variables}
	data := map[string]any{}
	for _, sel := range op.SelectionSet {
		field, ok := sel.(*ast.Field)
		if !ok {
			continue
		}
		key := responseKey(field)
		args := ex.args(field)
		switch field.Name {
		case "__typename":
			data[key] = "Query"
		case "_service":
			data[key] = ex.project(map[string]any{"sdl": f.sdl}, field.SelectionSet, []any{key})
		case "_entities":
			reps, _ := args["representations"].([]any)
			out := make([]any, len(reps))
			for i, rep := range reps {
				m, _ := rep.(map[string]any)
				v, ferr := f.entity(m)
				if ferr != nil {
					ferr.Path = []any{key, i}
					ex.errs = append(ex.errs, *ferr)
				}
				out[i] = ex.project(v, field.SelectionSet, []any{key, i})
			}
			data[key] = out
		default:
			fn, ok := f.root[field.Name]
			if !ok {
				f.t.Errorf("fake subgraph has no root field %q (query %q)", field.Name, req.Query)
				data[key] = nil
				continue
			}
			v, ferr := fn(args)
			if ferr != nil {
				ferr.Path = []any{key}
				ex.errs = append(ex.errs, *ferr)
			}
			data[key] = ex.project(v, field.SelectionSet, []any{key})
		}
	}
	resp := map[string]any{"data": data}
	if len(ex.errs) > 0 {
		resp["errors"] = ex.errs
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

type fakeExec struct {
	vars map[string]any
	errs []fakeError
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

// project keeps what the selection set asks for. Values that are functions
// are field resolvers taking the field's arguments.
func (ex *fakeExec) project(v any, sels ast.SelectionSet, path []any) any {
	if v == nil || len(sels) == 0 {
		return v
	}
	switch val := v.(type) {
	case []map[string]any:
		out := make([]any, len(val))
		for i, item := range val {
			out[i] = ex.project(item, sels, append(path, i))
		}
		return out
	case []any:
		out := make([]any, len(val))
		for i, item := range val {
			out[i] = ex.project(item, sels, append(path, i))
		}
		return out
	case map[string]any:
		out := map[string]any{}
		ex.collect(val, sels, out, path)
		return out
	}
	return v
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
			v := obj[s.Name]
			if fn, ok := v.(func(map[string]any) (any, *fakeError)); ok {
				var ferr *fakeError
				v, ferr = fn(ex.args(s))
				if ferr != nil {
					ferr.Path = append(append([]any(nil), path...), key)
					ex.errs = append(ex.errs, *ferr)
				}
			}
			out[key] = ex.project(v, s.SelectionSet, append(append([]any(nil), path...), key))
		case *ast.InlineFragment:
			if s.TypeCondition == "" || s.TypeCondition == obj["__typename"] {
				ex.collect(obj, s.SelectionSet, out, path)
			}
		}
	}
}
