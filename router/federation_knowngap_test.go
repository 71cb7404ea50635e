package router

import (
	"testing"
)

// Known gaps: federation behaviour this engine version (graphql-go-tools
// v2 v2.16.0, composed by Cosmo composition-go of 2024-10) gets wrong; both
// cases were already pinned on v2 rc.231 and the upgrade did not fix them. Each test asserts today's wrong answer exactly, with the right one
// in its comment, so that it fails — and must be rewritten into a directive
// case — the day the behaviour is fixed (an engine upgrade or a router-side
// fix). docs and the closing note list the same cases.

type knownGap struct {
	name  string
	query string
	// got is today's (wrong) response, exactly.
	got string
	// right describes the correct answer.
	right string
}

func (g knownGap) run(t *testing.T, tr *testRouter) {
	t.Run(g.name, func(t *testing.T) {
		r := postJSON(t, tr.url+"/graphql", `{"query":`+jsonString(g.query)+`}`)
		if r.body != g.got {
			t.Errorf("the known gap changed (fixed? then move the case into the directive tests: %s)\n got: %s\nwas: %s", g.right, r.body, g.got)
		}
	})
}

func jsonString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}

// Subgraph errors of an entity fetch below a list: the engine rewrites the
// _entities path to the fetch's response path but keeps "@" where the list
// index belongs (resolve.rewriteErrorPaths drops the _entities index). The
// message and code pass through correctly.
func TestKnownGap_EntityErrorPathIndex(t *testing.T) {
	tr, _ := startFedCase(t, errorsCase())
	knownGap{name: "list index is @",
		query: `{ orders { id customer { name } } }`,
		got:   `{"errors":[{"message":"customer gone was erased","path":["orders","@","customer"],"extensions":{"code":"NOT_FOUND"}}],"data":{"orders":[{"id":"o1","customer":{"name":"name of c1"}},{"id":"o2","customer":{"name":null}},{"id":"o3","customer":{"name":"name of c3"}}]}}`,
		right: `path ["orders",1,"customer"]`,
	}.run(t, tr)
}

// A subgraph that fails as a whole (HTTP 503, or unreachable): the other
// subgraphs' data is returned and the failed fields are null, but the error
// for the missing part has no "path" (the 503 form names nothing; the
// unreachable form names the path only inside its message).
func TestKnownGap_PartialDataErrorPath(t *testing.T) {
	tr, sgs := startFedCase(t, errorsCase()) // loyalty answers 503
	knownGap{name: "HTTP 503",
		query: `{ orders { id customer { points } } }`,
		got:   `{"errors":[{"message":"503: Service Unavailable","extensions":{"code":"UNAVAILABLE"}}],"data":{"orders":[{"id":"o1","customer":{"points":null}},{"id":"o2","customer":{"points":null}},{"id":"o3","customer":{"points":null}}]}}`,
		right: `the error carries path ["orders",i,"customer","points"] (or at least ["orders"]) and names the subgraph`,
	}.run(t, tr)
	sgs["loyalty"].srv.Close() // now unreachable
	knownGap{name: "unreachable",
		query: `{ orders { id customer { points } } }`,
		got:   `{"errors":[{"message":"Failed to fetch from Subgraph 'loyalty' at Path 'orders.@.customer'.","extensions":{"code":"UNAVAILABLE"}}],"data":{"orders":[{"id":"o1","customer":{"points":null}},{"id":"o2","customer":{"points":null}},{"id":"o3","customer":{"points":null}}]}}`,
		right: `the error carries a path field, not only the path text in its message`,
	}.run(t, tr)
}
