package router

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/buger/jsonparser"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/lexer"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/lexer/keyword"

	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary tests;
// `go test -run '^$' -fuzz FuzzX -fuzztime 30s ./router/` explores further.

// FuzzRequestBody feeds arbitrary POST bodies through the checks readBody
// makes after reading, then parseRequestObject (for each element of a
// batch too) and validateRequest: nothing may panic, and what is accepted
// must be what the executor can rely on.
func FuzzRequestBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		data := bytes.TrimSpace(body)
		if len(data) == 0 || (data[0] != '{' && data[0] != '[') || !json.Valid(data) {
			return // readBody refuses these before parsing
		}
		if data[0] == '[' {
			_, _ = jsonparser.ArrayEach(data, func(v []byte, _ jsonparser.ValueType, _ int, _ error) {
				checkRequestObject(t, v)
			})
			return
		}
		checkRequestObject(t, data)
	})
}

func checkRequestObject(t *testing.T, data []byte) {
	t.Helper()
	var req graphql.Request
	var pq persistedQuery
	if refusedAs400(t, "parseRequestObject", data, parseRequestObject(data, &req, &pq)) ||
		refusedAs400(t, "validateRequest", data, validateRequest(&req)) {
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		t.Fatalf("accepted %q with an empty query", data)
	}
	checkAccepted(t, data, &req, pq)
}

// refusedAs400 reports whether fn refused input, failing t unless the
// refusal is a 400 with a message.
func refusedAs400[T []byte | string](t *testing.T, fn string, input T, e *errorResponse) bool {
	t.Helper()
	if e != nil && (e.status != http.StatusBadRequest || e.message == "") {
		t.Fatalf("%s(%q) refused with %+v, want a 400 with a message", fn, input, *e)
	}
	return e != nil
}

// checkAccepted checks what the executor relies on in every accepted
// request: variables are a JSON object, a persisted query hash is lower
// case.
func checkAccepted[T []byte | string](t *testing.T, input T, req *graphql.Request, pq persistedQuery) {
	t.Helper()
	if len(req.Variables) > 0 {
		v := bytes.TrimSpace(req.Variables)
		if v[0] != '{' || !json.Valid(v) {
			t.Fatalf("accepted %q with variables %q, want a JSON object", input, req.Variables)
		}
	}
	if pq.hash != strings.ToLower(pq.hash) {
		t.Fatalf("accepted %q with persisted query hash %q, want it lower-cased", input, pq.hash)
	}
}

// FuzzReadGET feeds arbitrary query strings through readGET and
// validateRequest.
func FuzzReadGET(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/graphql", RawQuery: rawQuery}}
		var req graphql.Request
		var pq persistedQuery
		if refusedAs400(t, "readGET", rawQuery, readGET(r, &req, &pq)) {
			return
		}
		if req.Query != r.URL.Query().Get("query") {
			t.Fatalf("readGET(%q) query = %q, want %q", rawQuery, req.Query, r.URL.Query().Get("query"))
		}
		if e := validateRequest(&req); e != nil {
			return
		}
		checkAccepted(t, rawQuery, &req, pq)
	})
}

// FuzzQueryLimits parses arbitrary operations and measures them: the walk
// never panics, is deterministic, its counts are consistent (every level of
// depth is a field; every alias is a field), and the limits are monotone: an
// operation accepted under some limits is accepted under any larger ones,
// and the tightest limits that accept it are exactly its measured counts.
func FuzzQueryLimits(f *testing.F) {
	f.Fuzz(func(t *testing.T, query, opName string, depth, fields, aliases uint16) {
		doc, report := astparser.ParseGraphqlDocumentString(query)
		if report.HasErrors() {
			return
		}
		name, st, found := measureOperation(&doc, opName)
		name2, st2, found2 := measureOperation(&doc, opName)
		if name != name2 || st != st2 || found != found2 {
			t.Fatalf("measureOperation is not deterministic: %q %+v %v, then %q %+v %v", name, st, found, name2, st2, found2)
		}
		if !found {
			if name != "" || st != (opStats{}) {
				t.Fatalf("operation not found but measured %q %+v", name, st)
			}
			return
		}
		if opName != "" && name != opName {
			t.Fatalf("asked for operation %q, measured %q", opName, name)
		}
		if st.depth < 0 || st.fields < 0 || st.aliases < 0 || st.fields > saturate || st.aliases > saturate {
			t.Fatalf("counts out of range: %+v", st)
		}
		if st.depth > st.fields || st.aliases > st.fields {
			t.Fatalf("inconsistent counts (depth and aliases must not exceed fields): %+v", st)
		}

		l := Limits{MaxDepth: int(depth) + 1, MaxFields: int(fields) + 1, MaxAliases: int(aliases) + 1}
		if !st.introspection {
			on, off := l.check(st, false), l.check(st, true)
			if (on == nil) != (off == nil) || (on != nil && on.code != off.code) {
				t.Fatalf("introspection switch changed the verdict on a non-introspection operation %+v: %v vs %v", st, on, off)
			}
		}
		if l.check(st, true) == nil && l.check(st, false) != nil {
			t.Fatalf("accepted with introspection off but refused with it on: %+v under %+v", st, l)
		}
		if l.check(st, false) == nil {
			for _, bigger := range []Limits{
				{MaxDepth: l.MaxDepth + 1, MaxFields: l.MaxFields, MaxAliases: l.MaxAliases},
				{MaxDepth: l.MaxDepth, MaxFields: l.MaxFields + 1, MaxAliases: l.MaxAliases},
				{MaxDepth: l.MaxDepth, MaxFields: l.MaxFields, MaxAliases: l.MaxAliases + 1},
				{MaxDepth: l.MaxDepth * 2, MaxFields: l.MaxFields * 2, MaxAliases: l.MaxAliases * 2},
			} {
				if e := bigger.check(st, false); e != nil {
					t.Fatalf("%+v accepted under %+v but refused under larger %+v: %s", st, l, bigger, e.message)
				}
			}
		}

		tight := Limits{MaxDepth: st.depth, MaxFields: st.fields, MaxAliases: st.aliases}
		if e := tight.check(st, false); e != nil {
			t.Fatalf("%+v refused under its own counts as limits: %s", st, e.message)
		}
		for _, smaller := range []Limits{
			{MaxDepth: tight.MaxDepth - 1, MaxFields: tight.MaxFields, MaxAliases: tight.MaxAliases},
			{MaxDepth: tight.MaxDepth, MaxFields: tight.MaxFields - 1, MaxAliases: tight.MaxAliases},
			{MaxDepth: tight.MaxDepth, MaxFields: tight.MaxFields, MaxAliases: tight.MaxAliases - 1},
		} {
			if smaller.MaxDepth < 0 || smaller.MaxFields < 0 || smaller.MaxAliases < 0 {
				continue
			}
			e := smaller.check(st, false)
			if e == nil {
				t.Fatalf("%+v accepted under %+v, below its counts", st, smaller)
			}
			if e.code != gqlwire.CodeQueryTooDeep && e.code != gqlwire.CodeQueryTooComplex {
				t.Fatalf("%+v refused under %+v with code %s", st, smaller, e.code)
			}
		}
	})
}

// FuzzPreScan checks the scan made before parsing (gqlwire.Scan, applied by
// Limits.scan) against graphql-go-tools' own lexer and parser. For every
// document the parser accepts, the scan counts exactly the lexer's tokens
// (comments left out) and, when the document holds only operations and
// fragments, exactly the deepest selection-set nesting of any one
// definition as measured on the syntax tree. So whatever the parser
// accepts within the limits, the scan passes, and what it refuses is over
// a limit.
func FuzzPreScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, query string, depth, tokens uint16) {
		st := gqlwire.Scan(query) // never panics, whatever the bytes
		doc, report := astparser.ParseGraphqlDocumentString(query)
		if report.HasErrors() {
			return
		}
		wantTokens := lexerTokens(query)
		if st.Tokens != wantTokens {
			t.Fatalf("Scan(%q) counted %d tokens, the lexer %d", query, st.Tokens, wantTokens)
		}
		if !executableOnly(&doc) {
			return
		}
		wantDepth := definitionDepth(&doc)
		if st.Depth != wantDepth {
			t.Fatalf("Scan(%q) measured depth %d, the syntax tree %d", query, st.Depth, wantDepth)
		}
		l := Limits{MaxDepth: int(depth) + 1, MaxTokens: int(tokens) + 1, MaxQueryBytes: len(query) + 1}
		err := l.scan(query)
		within := wantDepth <= l.MaxDepth && wantTokens <= l.MaxTokens
		if within && err != nil {
			t.Fatalf("%q (depth %d, %d tokens) is within %+v but the scan refused it: %v", query, wantDepth, wantTokens, l, err)
		}
		if !within && err == nil {
			t.Fatalf("%q (depth %d, %d tokens) is over %+v but the scan passed it", query, wantDepth, wantTokens, l)
		}
	})
}

// lexerTokens counts what graphql-go-tools' lexer reads from query, its
// comment tokens left out.
func lexerTokens(query string) int {
	var in ast.Input
	in.ResetInputString(query)
	var lx lexer.Lexer
	lx.SetInput(&in)
	n := 0
	for {
		switch lx.Read().Keyword {
		case keyword.EOF:
			return n
		case keyword.COMMENT:
		default:
			n++
		}
	}
}

func executableOnly(doc *ast.Document) bool {
	for _, n := range doc.RootNodes {
		if n.Kind != ast.NodeKindOperationDefinition && n.Kind != ast.NodeKindFragmentDefinition {
			return false
		}
	}
	return true
}

// definitionDepth is the deepest selection-set nesting of any operation or
// fragment definition, measured on the syntax tree: every selection set
// counts a level, except an inline fragment's, and fragment spreads are not
// followed. (With every spread expanded, as the measurer does for the
// operation that runs, a valid document is never shallower: each fragment
// holds a field.)
func definitionDepth(doc *ast.Document) int {
	var inner func(ref int) int
	inner = func(ref int) int {
		d := 0
		for _, sel := range doc.SelectionSets[ref].SelectionRefs {
			s := doc.Selections[sel]
			switch s.Kind {
			case ast.SelectionKindField:
				if f := doc.Fields[s.Ref]; f.HasSelections {
					d = max(d, 1+inner(f.SelectionSet))
				}
			case ast.SelectionKindInlineFragment:
				if f := doc.InlineFragments[s.Ref]; f.HasSelections {
					d = max(d, inner(f.SelectionSet))
				}
			}
		}
		return d
	}
	d := 0
	for _, op := range doc.OperationDefinitions {
		if op.HasSelections {
			d = max(d, 1+inner(op.SelectionSet))
		}
	}
	for _, fd := range doc.FragmentDefinitions {
		if fd.HasSelections {
			d = max(d, 1+inner(fd.SelectionSet))
		}
	}
	return d
}

// FuzzCostPlan costs arbitrary operations against the committed client
// schema: building the plan never panics, the estimate is deterministic
// and within [0, saturate], and a larger default list size never lowers it.
func FuzzCostPlan(f *testing.F) {
	schema := committedClientSchema(f)
	f.Fuzz(func(t *testing.T, query string, vars []byte) {
		doc, report := astparser.ParseGraphqlDocumentString(query)
		if report.HasErrors() {
			return
		}
		for op := range doc.OperationDefinitions {
			p := newCostPlan(&doc, schema, op, DefaultListSize)
			c := p.estimate(vars)
			if c < 0 || c > saturate {
				t.Fatalf("%q: cost %d out of range", query, c)
			}
			if again := p.estimate(vars); again != c {
				t.Fatalf("%q: cost %d, then %d", query, c, again)
			}
			if larger := newCostPlan(&doc, schema, op, 2*DefaultListSize).estimate(vars); larger < c {
				t.Fatalf("%q: cost %d with lists of %d, %d with lists of %d", query, c, DefaultListSize, larger, 2*DefaultListSize)
			}
		}
	})
}
