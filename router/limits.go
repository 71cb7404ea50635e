package router

import (
	"net/http"
	"strconv"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"

	"github.com/heraldhq/herald/router/internal/defaults"
	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Default limits: generous for any hand-written operation (the GraphiQL
// introspection query stays well inside them), small enough that one request
// cannot make the router or the subgraphs do unbounded work.
const (
	DefaultMaxDepth   = 15
	DefaultMaxFields  = 500
	DefaultMaxAliases = 50
	DefaultMaxBatch   = 10
	// DefaultMaxQueryBytes is eight times the largest operation Herald's
	// clients send with room for comments and indentation; larger bodies
	// are variables' business (HERALD_ROUTER_MAX_REQUEST_BYTES).
	DefaultMaxQueryBytes = 128 << 10
	// DefaultMaxTokens allows ten tokens (a name, arguments, punctuation)
	// for each of the 500 fields the field limit allows; the GraphiQL
	// introspection query has 150. Parsing 5000 tokens takes about 3 ms
	// and 5 MB, the most a document refused after parsing can cost.
	DefaultMaxTokens = 5000
	// DefaultMaxCost allows a page of 100 orders with their items and
	// buyers, or 20 users with 20 orders each, and refuses pages of pages
	// of pages (the million-row query costs two million).
	DefaultMaxCost = 50000
	// DefaultListSize is the size assumed of a list without a first or
	// last argument or default (an order's items, a user's channels, and
	// users(first:), whose default of 20 is the resolver's, not the
	// schema's): one default page of Herald's paged fields.
	DefaultListSize = 20
)

// Limits bound one operation. They are checked on the parsed document,
// before normalisation, validation and planning, so a hostile operation
// costs the router one parse and one linear walk.
type Limits struct {
	// MaxDepth bounds the nesting of selection sets: { a { b } } is 2.
	// Fragments count where they are spread; inline fragments add nothing.
	MaxDepth int
	// MaxFields bounds the fields selected, every fragment spread expanded
	// (so fragments spread many times count many times).
	MaxFields int
	// MaxAliases bounds the aliased fields, fragments expanded; aliases are
	// how one request asks for the same expensive field many times.
	MaxAliases int
	// MaxBatch bounds the operations of one JSON-array batched request.
	MaxBatch int
	// MaxQueryBytes bounds the query text (REQUEST_TOO_LARGE), checked
	// before anything else is done with it.
	MaxQueryBytes int
	// MaxTokens bounds the lexical tokens of the query text (comments and
	// commas are not tokens), checked before it is parsed.
	MaxTokens int
	// MaxCost bounds the estimated number of values of the answer, from
	// list sizes (cost.go).
	MaxCost int
	// DefaultListSize is the size assumed of a list field without a first
	// or last argument or default.
	DefaultListSize int
}

func (l Limits) withDefaults() Limits {
	l.MaxDepth = defaults.Positive(l.MaxDepth, DefaultMaxDepth)
	l.MaxFields = defaults.Positive(l.MaxFields, DefaultMaxFields)
	l.MaxAliases = defaults.Positive(l.MaxAliases, DefaultMaxAliases)
	l.MaxBatch = defaults.Positive(l.MaxBatch, DefaultMaxBatch)
	l.MaxQueryBytes = defaults.Positive(l.MaxQueryBytes, DefaultMaxQueryBytes)
	l.MaxTokens = defaults.Positive(l.MaxTokens, DefaultMaxTokens)
	l.MaxCost = defaults.Positive(l.MaxCost, DefaultMaxCost)
	l.DefaultListSize = defaults.Positive(l.DefaultListSize, DefaultListSize)
	return l
}

// limitRefusal is an operation refused by a limit before it was parsed
// (executor.parse returns it; the transports answer it like a refusal of
// check).
type limitRefusal struct{ errorResponse }

func (r *limitRefusal) Error() string { return string(r.code) + ": " + r.message }

// scan checks the query text before it is parsed: its size, then, in one
// pass over its bytes (gqlwire.ScanWithin), its nesting and its tokens.
// Building the syntax tree of a megabyte of "{a{a{a…" took two seconds and
// 700 MB; the scan refuses it after a few bytes and allocates nothing.
func (l Limits) scan(query string) error {
	if len(query) > l.MaxQueryBytes {
		return &limitRefusal{errorResponse{http.StatusRequestEntityTooLarge, gqlwire.CodeRequestTooLarge,
			"the query is " + strconv.Itoa(len(query)) + " bytes; the limit is " + strconv.Itoa(l.MaxQueryBytes)}}
	}
	// The scan stops at the first limit passed: the messages say "more than".
	st, over := gqlwire.ScanWithin(query, l.MaxDepth, l.MaxTokens)
	switch {
	case !over:
		return nil
	case st.Depth > l.MaxDepth:
		return &limitRefusal{errorResponse{http.StatusBadRequest, gqlwire.CodeQueryTooDeep,
			"the operation is nested more than " + strconv.Itoa(l.MaxDepth) + " levels deep; the limit is " + strconv.Itoa(l.MaxDepth)}}
	default:
		return &limitRefusal{errorResponse{http.StatusBadRequest, gqlwire.CodeQueryTooComplex,
			"the query has more than " + strconv.Itoa(l.MaxTokens) + " tokens; the limit is " + strconv.Itoa(l.MaxTokens)}}
	}
}

// measure measures the operation of a parsed document that would run
// (measureOperation) and builds its cost plan against the client schema.
func (l Limits) measure(doc, schema *ast.Document, opName string) (name string, st opStats, found bool) {
	name, st, found = measureOperation(doc, opName)
	// An operation over the other limits is refused before its cost is
	// read: the plan of a 5000-field operation need not be built.
	if found && st.depth <= l.MaxDepth && st.fields <= l.MaxFields && st.aliases <= l.MaxAliases {
		if op := operationRef(doc, opName); op >= 0 {
			st.cost = newCostPlan(doc, schema, op, l.DefaultListSize)
		}
	}
	return name, st, found
}

// operationRef is the operation that would run: the one named opName, or
// the only one (-1 when there is no such operation, or several and no
// name: the engine refuses those).
func operationRef(doc *ast.Document, opName string) int {
	op := -1
	for _, n := range doc.RootNodes {
		if n.Kind != ast.NodeKindOperationDefinition {
			continue
		}
		if opName == "" || doc.OperationDefinitionNameString(n.Ref) == opName {
			if op != -1 && opName == "" {
				return -1
			}
			op = n.Ref
			if opName != "" {
				break
			}
		}
	}
	return op
}

// opStats measure one operation (or one fragment).
type opStats struct {
	depth, fields, aliases int
	// introspection is set when __schema or __type is selected.
	introspection bool
	// cost estimates the answer's size (set by Limits.measure).
	cost *costPlan
}

// saturate keeps counts of exponentially nested fragments from overflowing.
const saturate = 1 << 40

func satAdd(a, b int) int {
	if a+b > saturate {
		return saturate
	}
	return a + b
}

// measurer walks one document, measuring each fragment definition once:
// a fragment spread many times (or nested fragments spreading each other)
// costs one walk, so the walk is linear in the size of the document even
// when the expanded operation would be exponential.
type measurer struct {
	doc       *ast.Document
	fragments map[string]int   // name → fragment definition ref
	memo      map[int]*opStats // fragment definition ref → its stats
	visiting  map[int]bool     // fragments on the current path (cycles)
}

// measureOperation measures the operation that would run: the one named
// opName, or the only one. found is false when there is no such operation
// (the engine reports that); name is the operation's name, "" if anonymous.
func measureOperation(doc *ast.Document, opName string) (name string, st opStats, found bool) {
	op := operationRef(doc, opName)
	if op == -1 {
		return "", opStats{}, false
	}
	m := measurer{doc: doc}
	def := doc.OperationDefinitions[op]
	if def.HasSelections {
		st = m.selectionSet(def.SelectionSet)
	}
	return doc.OperationDefinitionNameString(op), st, true
}

func (m *measurer) selectionSet(ref int) opStats {
	var st opStats
	for _, sel := range m.doc.SelectionSets[ref].SelectionRefs {
		s := m.doc.Selections[sel]
		var child opStats
		switch s.Kind {
		case ast.SelectionKindField:
			f := m.doc.Fields[s.Ref]
			if f.HasSelections {
				child = m.selectionSet(f.SelectionSet)
			}
			child.depth++
			child.fields = satAdd(child.fields, 1)
			if f.Alias.IsDefined {
				child.aliases = satAdd(child.aliases, 1)
			}
			if name := m.doc.FieldNameUnsafeString(s.Ref); name == "__schema" || name == "__type" {
				child.introspection = true
			}
		case ast.SelectionKindInlineFragment:
			if f := m.doc.InlineFragments[s.Ref]; f.HasSelections {
				child = m.selectionSet(f.SelectionSet)
			}
		case ast.SelectionKindFragmentSpread:
			child = m.fragment(string(m.doc.FragmentSpreadNameBytes(s.Ref)))
		}
		st.depth = max(st.depth, child.depth)
		st.fields = satAdd(st.fields, child.fields)
		st.aliases = satAdd(st.aliases, child.aliases)
		st.introspection = st.introspection || child.introspection
	}
	return st
}

// fragment measures a fragment definition once. An unknown fragment or a
// cycle measures zero: validation refuses both later.
func (m *measurer) fragment(name string) opStats {
	if m.fragments == nil {
		m.fragments = make(map[string]int, len(m.doc.FragmentDefinitions))
		for i, fd := range m.doc.FragmentDefinitions {
			m.fragments[m.doc.Input.ByteSliceString(fd.Name)] = i
		}
		m.memo = make(map[int]*opStats, len(m.doc.FragmentDefinitions))
		m.visiting = make(map[int]bool)
	}
	ref, ok := m.fragments[name]
	if !ok || m.visiting[ref] {
		return opStats{}
	}
	if st := m.memo[ref]; st != nil {
		return *st
	}
	m.visiting[ref] = true
	var st opStats
	if fd := m.doc.FragmentDefinitions[ref]; fd.HasSelections {
		st = m.selectionSet(fd.SelectionSet)
	}
	delete(m.visiting, ref)
	m.memo[ref] = &st
	return st
}

// check refuses an operation over a limit, or one asking for introspection
// when it is off. Refusals are the client's error, found before execution:
// 400 with the limit's code.
func (l Limits) check(st opStats, introspectionOff bool) *errorResponse {
	switch {
	case introspectionOff && st.introspection:
		return &errorResponse{http.StatusBadRequest, gqlwire.CodeIntrospectionDisabled, "introspection is disabled on this router"}
	case st.depth > l.MaxDepth:
		return &errorResponse{http.StatusBadRequest, gqlwire.CodeQueryTooDeep,
			"the operation is nested " + strconv.Itoa(st.depth) + " levels deep; the limit is " + strconv.Itoa(l.MaxDepth)}
	case st.fields > l.MaxFields:
		return &errorResponse{http.StatusBadRequest, gqlwire.CodeQueryTooComplex,
			"the operation selects " + countString(st.fields) + " fields (fragments expanded); the limit is " + strconv.Itoa(l.MaxFields)}
	case st.aliases > l.MaxAliases:
		return &errorResponse{http.StatusBadRequest, gqlwire.CodeQueryTooComplex,
			"the operation has " + countString(st.aliases) + " aliases (fragments expanded); the limit is " + strconv.Itoa(l.MaxAliases)}
	}
	return nil
}

func countString(n int) string {
	if n >= saturate {
		return "more than " + strconv.Itoa(saturate)
	}
	return strconv.Itoa(n)
}
