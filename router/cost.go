package router

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/buger/jsonparser"
	"github.com/heraldhq/herald/router/internal/gqlwire"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// The cost of an operation is the number of values its answer can hold at
// most: every field counts once per object it is selected on, and a list
// field multiplies what is below it by its size. The size of a list is its
// first (or last) argument, a literal or a variable of the request; without
// one, the argument's default in the schema; without that, the default list
// size. A field with a first/last argument that returns one object (a
// connection) sizes its edges and nodes lists. Fragments on different types
// are added, not compared (an overestimate), and introspection (__schema,
// __type) counts one value: it is answered from the schema the router
// holds, and bounded by the depth and field limits.
//
// The walk builds a costPlan once per operation (cached with it); only
// list sizes that come from variables are read per request. Each fragment
// is walked at most twice (directly below a connection or not), so a
// fragment bomb stays linear, as in the measurer.

// listSize is where a list's size comes from.
type listSize struct {
	n int // the literal, or the fallback when the variable is absent, null or not an integer
	// variable names the request variable giving the size ("" when n is
	// a literal).
	variable string
}

// costTerm is one selection of a costNode.
type costTerm struct {
	field bool     // a field: size × (1 + child); else a fragment, merged into its parent
	size  listSize // a field's list size (1 when it is not a list)
	// conn: the size is the enclosing connection's (edges and nodes).
	conn bool
	// child is the node of the selection set below (-1: none); a field
	// returning a connection has a child built in connection mode, whose
	// edges and nodes take childConn as their size.
	child     int32
	childConn listSize
}

type costNode struct {
	terms    []costTerm
	connMode bool
}

// costPlan is an operation's cost as a function of its variables.
type costPlan struct {
	static  int        // the cost when dynamic is false
	dynamic bool       // some list size comes from a variable
	nodes   []costNode // nodes[0] is the operation; nil when not dynamic
}

// estimate is the operation's cost for a request with vars.
func (p *costPlan) estimate(vars []byte) int {
	if p == nil {
		return 0
	}
	if !p.dynamic {
		return p.static
	}
	memo := make([]costPair, len(p.nodes))
	for i := range memo {
		memo[i].a = -1
	}
	return p.eval(0, vars, memo).a
}

// costPair is a node's cost a + K×b, K the size of the enclosing
// connection (b is zero outside connection mode).
type costPair struct{ a, b int }

func (p *costPlan) eval(node int32, vars []byte, memo []costPair) costPair {
	if memo[node].a >= 0 {
		return memo[node]
	}
	var c costPair
	for _, t := range p.nodes[node].terms {
		var ch costPair
		if t.child >= 0 {
			ch = p.eval(t.child, vars, memo)
		}
		if !t.field {
			c.a, c.b = satAdd(c.a, ch.a), satAdd(c.b, ch.b)
			continue
		}
		below := ch.a
		if t.child >= 0 && p.nodes[t.child].connMode {
			below = satAdd(below, satMul(t.childConn.resolve(vars), ch.b))
		}
		v := satAdd(1, below)
		if t.conn {
			c.b = satAdd(c.b, v)
		} else {
			c.a = satAdd(c.a, satMul(t.size.resolve(vars), v))
		}
	}
	memo[node] = c
	return c
}

func (s listSize) resolve(vars []byte) int {
	if s.variable == "" || len(vars) == 0 {
		return s.n
	}
	v, vt, _, err := jsonparser.Get(vars, s.variable)
	if err != nil || vt != jsonparser.Number {
		return s.n
	}
	return sizeOf(string(v))
}

// sizeOf reads an integer list size: negative sizes are 0, and sizes too
// large to read saturate.
func sizeOf(raw string) int {
	n, err := strconv.ParseInt(raw, 10, 64)
	switch {
	case err != nil && len(raw) > 0 && raw[0] == '-':
		return 0
	case err != nil:
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return saturate
		}
		return 0 // a float: validation refuses it
	case n < 0:
		return 0
	case n > saturate:
		return saturate
	}
	return int(n)
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= saturate || b >= saturate || a > saturate/b {
		return saturate
	}
	return a * b
}

// costBuilder walks one operation against the client schema.
type costBuilder struct {
	doc, schema *ast.Document
	op          int
	defaultSize int
	nodes       []costNode
	fragments   map[string]int
	memo        map[fragmentMode]int32
	visiting    map[int]bool
	dynamic     bool
}

type fragmentMode struct {
	ref      int
	connMode bool
}

// newCostPlan builds the cost plan of operation op of doc.
func newCostPlan(doc, schema *ast.Document, op int, defaultSize int) *costPlan {
	b := costBuilder{doc: doc, schema: schema, op: op, defaultSize: defaultSize}
	def := doc.OperationDefinitions[op]
	b.nodes = append(b.nodes, costNode{})
	if def.HasSelections {
		b.fill(0, def.SelectionSet, rootTypeName(schema, def.OperationType))
	}
	p := &costPlan{nodes: b.nodes, dynamic: true}
	if !b.dynamic {
		// Nothing depends on the request: keep the number only.
		p.static = p.estimate(nil)
		p.dynamic, p.nodes = false, nil
	}
	return p
}

func rootTypeName(schema *ast.Document, t ast.OperationType) []byte {
	var name []byte
	var fallback string
	switch t {
	case ast.OperationTypeMutation:
		name, fallback = schema.Index.MutationTypeName, "Mutation"
	case ast.OperationTypeSubscription:
		name, fallback = schema.Index.SubscriptionTypeName, "Subscription"
	default:
		name, fallback = schema.Index.QueryTypeName, "Query"
	}
	if len(name) == 0 {
		return []byte(fallback)
	}
	return name
}

// selectionSet adds a node for selection set ref on type typeName (nil
// when unknown; validation refuses such an operation later).
func (b *costBuilder) selectionSet(ref int, typeName []byte, connMode bool) int32 {
	n := int32(len(b.nodes))
	b.nodes = append(b.nodes, costNode{connMode: connMode})
	b.fill(n, ref, typeName)
	return n
}

func (b *costBuilder) fill(n int32, ref int, typeName []byte) {
	connMode := b.nodes[n].connMode
	var terms []costTerm
	var typeNode ast.Node
	typeKnown := false
	if typeName != nil {
		typeNode, typeKnown = b.schema.Index.FirstNodeByNameBytes(typeName)
	}
	for _, sel := range b.doc.SelectionSets[ref].SelectionRefs {
		s := b.doc.Selections[sel]
		switch s.Kind {
		case ast.SelectionKindField:
			terms = append(terms, b.field(s.Ref, typeNode, typeKnown, connMode))
		case ast.SelectionKindInlineFragment:
			inl := b.doc.InlineFragments[s.Ref]
			if !inl.HasSelections {
				continue
			}
			t := typeName
			if b.doc.InlineFragmentHasTypeCondition(s.Ref) {
				t = b.doc.InlineFragmentTypeConditionName(s.Ref)
			}
			terms = append(terms, costTerm{child: b.selectionSet(inl.SelectionSet, t, connMode)})
		case ast.SelectionKindFragmentSpread:
			terms = append(terms, costTerm{child: b.fragment(string(b.doc.FragmentSpreadNameBytes(s.Ref)), connMode)})
		}
	}
	b.nodes[n].terms = terms
}

func (b *costBuilder) field(ref int, typeNode ast.Node, typeKnown, connMode bool) costTerm {
	t := costTerm{field: true, size: listSize{n: 1}, child: -1}
	f := b.doc.Fields[ref]
	name := b.doc.FieldNameBytes(ref)
	if bytes.HasPrefix(name, []byte("__")) {
		return t // __typename, or introspection (see above)
	}
	var fieldType []byte
	if typeKnown {
		if def, ok := b.schema.NodeFieldDefinitionByName(typeNode, name); ok {
			ft := b.schema.FieldDefinitionType(def)
			fieldType = b.schema.ResolveTypeNameBytes(ft)
			sized, hasSize := b.sizeArgument(ref, def)
			switch isList := b.schema.TypeIsList(ft); {
			case isList && hasSize:
				t.size = sized
			case isList && connMode && (string(name) == "edges" || string(name) == "nodes"):
				t.conn = true
			case isList:
				t.size = listSize{n: b.defaultSize}
			case hasSize:
				// A connection: its edges and nodes take the size.
				if f.HasSelections {
					t.childConn = sized
					t.child = b.selectionSet(f.SelectionSet, fieldType, true)
				}
				return t
			}
		}
	}
	if f.HasSelections {
		t.child = b.selectionSet(f.SelectionSet, fieldType, false)
	}
	return t
}

// sizeArgument reads the size a field with a first or last argument asks
// for: the operation's first (else last) argument, a literal or a
// variable; the fallback, when it passes none or the variable is absent, is
// the variable's default, then the argument's default in the schema, then
// the default list size. ok is false when the field has neither argument.
func (b *costBuilder) sizeArgument(field, def int) (listSize, bool) {
	schemaDefault, has := -1, false
	for _, a := range b.schema.FieldDefinitionArgumentsDefinitions(def) {
		name := b.schema.InputValueDefinitionNameString(a)
		if name != "first" && name != "last" {
			continue
		}
		has = true
		if name == "first" || schemaDefault < 0 {
			if b.schema.InputValueDefinitionHasDefaultValue(a) {
				if v := b.schema.InputValueDefinitionDefaultValue(a); v.Kind == ast.ValueKindInteger {
					schemaDefault = intValue(b.schema, v.Ref)
				}
			}
		}
	}
	if !has {
		return listSize{}, false
	}
	fallback := b.defaultSize
	if schemaDefault >= 0 {
		fallback = schemaDefault
	}
	for _, argName := range []string{"first", "last"} {
		arg, ok := b.doc.FieldArgument(field, []byte(argName))
		if !ok {
			continue
		}
		switch v := b.doc.ArgumentValue(arg); v.Kind {
		case ast.ValueKindInteger:
			return listSize{n: intValue(b.doc, v.Ref)}, true
		case ast.ValueKindVariable:
			name := b.doc.VariableValueNameBytes(v.Ref)
			n := fallback
			if vd, ok := b.doc.VariableDefinitionByNameAndOperation(b.op, name); ok && b.doc.VariableDefinitions[vd].DefaultValue.IsDefined {
				if dv := b.doc.VariableDefinitions[vd].DefaultValue.Value; dv.Kind == ast.ValueKindInteger {
					n = intValue(b.doc, dv.Ref)
				}
			}
			b.dynamic = true
			return listSize{n: n, variable: string(name)}, true
		}
		return listSize{n: fallback}, true
	}
	return listSize{n: fallback}, true
}

func intValue(doc *ast.Document, ref int) int {
	raw := doc.Input.ByteSliceString(doc.IntValues[ref].Raw)
	if doc.IntValues[ref].Negative {
		return 0
	}
	return sizeOf(raw)
}

// fragment returns the node of a fragment definition in one mode, built
// once. An unknown fragment or a cycle is -1: validation refuses both.
func (b *costBuilder) fragment(name string, connMode bool) int32 {
	if b.fragments == nil {
		b.fragments = make(map[string]int, len(b.doc.FragmentDefinitions))
		for i, fd := range b.doc.FragmentDefinitions {
			b.fragments[b.doc.Input.ByteSliceString(fd.Name)] = i
		}
		b.memo = make(map[fragmentMode]int32)
		b.visiting = make(map[int]bool)
	}
	ref, ok := b.fragments[name]
	if !ok || b.visiting[ref] {
		return -1
	}
	key := fragmentMode{ref, connMode}
	if n, ok := b.memo[key]; ok {
		return n
	}
	fd := b.doc.FragmentDefinitions[ref]
	if !fd.HasSelections {
		return -1
	}
	b.visiting[ref] = true
	n := b.selectionSet(fd.SelectionSet, b.doc.FragmentDefinitionTypeName(ref), connMode)
	delete(b.visiting, ref)
	b.memo[key] = n
	return n
}

// checkCost refuses an operation whose estimated cost for these variables
// is over the limit.
func (l Limits) checkCost(p *costPlan, vars []byte) *errorResponse {
	c := p.estimate(vars)
	if c <= l.MaxCost {
		return nil
	}
	return &errorResponse{http.StatusBadRequest, gqlwire.CodeQueryTooExpensive,
		"the operation's estimated cost is " + countString(c) + " (values its answer can hold, from list sizes); the limit is " + strconv.Itoa(l.MaxCost)}
}
