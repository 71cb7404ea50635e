package router

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// fedSubgraph is a purpose-built test subgraph: a real HTTP server speaking
// the federation protocol over fixed data (like fakeSubgraph, whose
// fakeExec answers its operations), plus what the federation tests need: interface
// type conditions (implementations are read from the SDL), entity
// resolvers per type, an SDL that can change while it runs (reload tests),
// and a log of every operation the router sent (planning assertions).
type fedSubgraph struct {
	t        testing.TB
	name     string
	root     map[string]resolver
	entities map[string]resolver
	sdl      atomic.Pointer[string]
	// implements maps a concrete type to the interfaces it implements and
	// the unions it belongs to.
	implements atomic.Pointer[map[string][]string]
	// before, when set, runs before each non-_service operation is answered
	// (a test can block there to keep a request in flight).
	before func(query string)
	down   atomic.Bool // answer 503 to every operation

	mu   sync.Mutex
	reqs []subgraphRequest
	srv  *httptest.Server
}

type resolver = func(map[string]any) (any, *fakeError)

// subgraphRequest is one operation the router sent to a subgraph.
type subgraphRequest struct {
	Query     string          `json:"query"`
	Variables json.RawMessage `json:"variables,omitempty"`
}

// fedSpec describes a test subgraph: its SDL, its root fields and, per
// entity type, how it resolves one representation. Values in the fixed
// objects that are resolvers are called with the field's arguments.
type fedSpec struct {
	name     string
	sdl      string
	root     map[string]resolver
	entities map[string]resolver
	// before, when set, runs before each operation is answered.
	before func(query string)
}

func startFedSubgraph(t testing.TB, spec fedSpec) *fedSubgraph {
	t.Helper()
	s := &fedSubgraph{t: t, name: spec.name, root: spec.root, entities: spec.entities, before: spec.before}
	s.setSDL(spec.sdl)
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fedSubgraph) URL() string { return s.srv.URL + "/graphql" }

func (s *fedSubgraph) subgraph() Subgraph { return Subgraph{Name: s.name, URL: s.URL()} }

func (s *fedSubgraph) setSDL(sdl string) {
	impl := map[string][]string{}
	if doc, err := parser.ParseSchema(&ast.Source{Input: sdl}); err == nil {
		for _, d := range append(doc.Definitions, doc.Extensions...) {
			impl[d.Name] = append(impl[d.Name], d.Interfaces...)
			// A union's members match a type condition on the union.
			for _, m := range d.Types {
				impl[m] = append(impl[m], d.Name)
			}
		}
	} else {
		s.t.Errorf("subgraph %s: SDL does not parse: %v", s.name, err)
	}
	s.implements.Store(&impl)
	s.sdl.Store(&sdl)
}

func (s *fedSubgraph) setDown(down bool) { s.down.Store(down) }

// requests returns what the router sent since the last reset, sorted so
// that fetches the engine ran in parallel compare stably.
func (s *fedSubgraph) requests() []subgraphRequest {
	s.mu.Lock()
	out := append([]subgraphRequest{}, s.reqs...)
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Query != out[j].Query {
			return out[i].Query < out[j].Query
		}
		return string(out[i].Variables) < string(out[j].Variables)
	})
	return out
}

func (s *fedSubgraph) reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

func (s *fedSubgraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req subgraphRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if strings.Contains(req.Query, "_service") {
		// Composition traffic is not part of what a client operation causes.
		writeFedJSON(w, map[string]any{"data": map[string]any{"_service": map[string]any{"sdl": *s.sdl.Load()}}})
		return
	}
	if len(req.Variables) > 0 {
		var compact bytes.Buffer
		if json.Compact(&compact, req.Variables) == nil {
			req.Variables = compact.Bytes()
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if s.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if s.before != nil {
		s.before(req.Query)
	}

	var vars map[string]any
	if len(req.Variables) > 0 {
		if err := json.Unmarshal(req.Variables, &vars); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	ex := &fakeExec{vars: vars, implements: *s.implements.Load()}
	who := "subgraph " + s.name
	entity := func(rep map[string]any) (any, *fakeError) {
		typename, _ := rep["__typename"].(string)
		fn, ok := s.entities[typename]
		if !ok {
			s.t.Errorf("%s has no entity resolver for %s", who, typename)
			return nil, nil
		}
		return fn(rep)
	}
	if resp, ok := ex.answer(s.t, who, req.Query, *s.sdl.Load(), s.root, entity); ok {
		writeFedJSON(w, resp)
	} else {
		http.Error(w, "bad query", http.StatusBadRequest)
	}
}

// entitiesRequests returns the _entities operations among reqs with the
// number of representations each carried.
func entitiesRequests(t testing.TB, reqs []subgraphRequest) []int {
	t.Helper()
	var out []int
	for _, r := range reqs {
		if !strings.Contains(r.Query, "_entities(") {
			continue
		}
		var v struct {
			Representations []json.RawMessage `json:"representations"`
		}
		if err := json.Unmarshal(r.Variables, &v); err != nil {
			t.Fatalf("variables of %q: %v", r.Query, err)
		}
		out = append(out, len(v.Representations))
	}
	return out
}
