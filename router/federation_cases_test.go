package router

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// byFields resolves a representation whose key is several fields (values
// compared deeply, so nested keys work too).
func byFields(fields []string, objs ...map[string]any) resolver {
	return func(rep map[string]any) (any, *fakeError) {
	next:
		for _, o := range objs {
			for _, f := range fields {
				if !reflect.DeepEqual(o[f], rep[f]) {
					continue next
				}
			}
			return o, nil
		}
		return nil, nil
	}
}

// mediaSubgraph owns the Media interface entity and its implementations,
// Book and Movie; query is its Query type, if any (answered by media).
func mediaSubgraph(query string) fedSpec {
	media := []map[string]any{
		obj("Book", "id", "m1", "title", "Notes on the Engine", "author", "Ada"),
		obj("Movie", "id", "m2", "title", "Difference", "minutes", 97),
	}
	return fedSpec{name: "media", sdl: fedLink("@key") + "\n" + query + `interface Media @key(fields: "id") { id: ID! title: String! }
type Book implements Media @key(fields: "id") { id: ID! title: String! author: String! }
type Movie implements Media @key(fields: "id") { id: ID! title: String! minutes: Int! }
`,
		root: map[string]resolver{"media": listOf(media...)},
		entities: map[string]resolver{
			// A Media representation resolves to its concrete type.
			"Media": byID("id", media...),
			"Book":  byID("id", media...),
			"Movie": byID("id", media...),
		},
	}
}

// byKeys resolves an entity with several @key directives by the first of
// keys (each a field set as @key writes it: "sku name") whose fields the
// representation carries.
func byKeys(keys []string, objs ...map[string]any) resolver {
	return func(rep map[string]any) (any, *fakeError) {
		for _, k := range keys {
			fields := strings.Fields(k)
			if !slices.ContainsFunc(fields, func(f string) bool { _, ok := rep[f]; return !ok }) {
				return byFields(fields, objs...)(rep)
			}
		}
		return nil, nil
	}
}

// one answers a root field with v, whatever its arguments.
func one(v any) resolver {
	return func(map[string]any) (any, *fakeError) { return v, nil }
}

// byArg answers a root field with the object answers holds for the value
// of its argument arg, or null.
func byArg(arg string, answers map[string]map[string]any) resolver {
	return func(args map[string]any) (any, *fakeError) {
		v, _ := args[arg].(string)
		if o, ok := answers[v]; ok {
			return o, nil
		}
		return nil, nil
	}
}

// withID resolves every representation to an object of typename with the
// representation's id and the fixed fields kv (pairs, as obj takes them).
func withID(typename string, kv ...any) resolver {
	return func(rep map[string]any) (any, *fakeError) {
		return obj(typename, append([]any{"id", rep["id"]}, kv...)...), nil
	}
}

func obj(typename string, kv ...any) map[string]any {
	m := map[string]any{"__typename": typename}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// directiveCases are the purpose-built graphs, one per federation feature.
// Each fake subgraph answers only from its own fixed data, and where a
// wrong plan would ask the wrong subgraph, that subgraph holds a tell-tale
// value ("WRONG ...") that would show in the golden response.
func directiveCases() []fedCase {
	return []fedCase{
		keysMultipleCase(),
		keysCompositeCase(),
		keysNestedCase(),
		requiresCase(),
		providesExternalCase(),
		shareableCase(),
		overrideCase(),
		inaccessibleCase(),
		interfaceObjectCase(),
		batchingCase(),
		multiFetchCase(),
		unresolvableKeyCase(),
		errorsCase(),
	}
}

// Several @key directives on one type: inventory knows products by sku
// only, reviews by id only; catalog knows both and bridges them.
func keysMultipleCase() fedCase {
	catalogProducts := []map[string]any{
		obj("Product", "id", "p1", "sku", "SKU-1", "name", "Lamp"),
		obj("Product", "id", "p2", "sku", "SKU-2", "name", "Desk"),
	}
	return fedCase{
		name: "key_multiple",
		subgraphs: []fedSpec{
			{name: "catalog", sdl: fedLink("@key") + `
type Query { products: [Product!]! }
type Product @key(fields: "id") @key(fields: "sku") { id: ID! sku: String! name: String! }
`,
				root:     map[string]resolver{"products": listOf(catalogProducts...)},
				entities: map[string]resolver{"Product": byKeys([]string{"id", "sku"}, catalogProducts...)},
			},
			{name: "inventory", sdl: fedLink("@key") + `
type Query { lowStock: [Product!]! }
type Product @key(fields: "sku") { sku: String! inStock: Int! }
`,
				root: map[string]resolver{"lowStock": listOf(obj("Product", "sku", "SKU-2", "inStock", 1))},
				entities: map[string]resolver{"Product": byID("sku",
					obj("Product", "sku", "SKU-1", "inStock", 40), obj("Product", "sku", "SKU-2", "inStock", 1))},
			},
			{name: "reviews", sdl: fedLink("@key") + `
type Product @key(fields: "id") { id: ID! rating: Float }
`,
				entities: map[string]resolver{"Product": byID("id",
					obj("Product", "id", "p1", "rating", 4.5), obj("Product", "id", "p2", "rating", 3.0))},
			},
		},
		ops: []fedOp{
			{name: "from the id+sku owner to the sku-keyed and id-keyed subgraphs",
				query: `{ products { id sku name inStock rating } }`},
			{name: "from the sku-only subgraph through catalog to the id-only subgraph",
				query: `{ lowStock { sku inStock name rating } }`,
				check: queryMentions("catalog", `"sku":"SKU-2"`, true)},
		},
	}
}

// A composite key: @key(fields: "productId color").
func keysCompositeCase() fedCase {
	return fedCase{
		name: "key_composite",
		subgraphs: []fedSpec{
			{name: "variants", sdl: fedLink("@key") + `
type Query { variants: [Variant!]! }
type Variant @key(fields: "productId color") { productId: ID! color: String! size: String! }
`,
				root: map[string]resolver{"variants": listOf(
					obj("Variant", "productId", "p1", "color", "red", "size", "M"),
					obj("Variant", "productId", "p1", "color", "blue", "size", "L"),
					obj("Variant", "productId", "p2", "color", "red", "size", "S"))},
			},
			{name: "pricing", sdl: fedLink("@key") + `
type Variant @key(fields: "productId color") { productId: ID! color: String! priceMinor: Int! }
`,
				entities: map[string]resolver{"Variant": byFields([]string{"productId", "color"},
					obj("Variant", "productId", "p1", "color", "red", "priceMinor", 1000),
					obj("Variant", "productId", "p1", "color", "blue", "priceMinor", 1100),
					obj("Variant", "productId", "p2", "color", "red", "priceMinor", 2000))},
			},
		},
		ops: []fedOp{
			{name: "both key fields travel in each representation",
				query: `{ variants { productId color size priceMinor } }`,
				check: allOf(wantOneBatch("pricing", 3), queryMentions("pricing", `"color":"blue","productId":"p1"`, true))},
		},
	}
}

// A nested key: @key(fields: "owner { id } number").
func keysNestedCase() fedCase {
	return fedCase{
		name: "key_nested",
		subgraphs: []fedSpec{
			{name: "accounts", sdl: fedLink("@key", "@shareable") + `
type Query { accounts: [Account!]! }
type Account @key(fields: "owner { id } number") { owner: Owner! number: Int! label: String! }
type Owner @shareable { id: ID! }
`,
				root: map[string]resolver{"accounts": listOf(
					obj("Account", "owner", obj("Owner", "id", "o1"), "number", 1, "label", "savings"),
					obj("Account", "owner", obj("Owner", "id", "o2"), "number", 1, "label", "current"))},
			},
			{name: "ledger", sdl: fedLink("@key", "@shareable") + `
type Account @key(fields: "owner { id } number") { owner: Owner! number: Int! balanceMinor: Int! }
type Owner @shareable { id: ID! }
`,
				entities: map[string]resolver{"Account": func(rep map[string]any) (any, *fakeError) {
					owner, _ := rep["owner"].(map[string]any)
					balances := map[string]int{"o1/1": 500, "o2/1": -20}
					key := fmt.Sprintf("%v/%v", owner["id"], rep["number"])
					b, ok := balances[key]
					if !ok {
						return nil, &fakeError{Message: "no account " + key}
					}
					return obj("Account", "owner", owner, "number", rep["number"], "balanceMinor", b), nil
				}},
			},
		},
		ops: []fedOp{
			{name: "the nested key object travels in each representation",
				query: `{ accounts { label owner { id } number balanceMinor } }`,
				check: queryMentions("ledger", `"owner":{"id":"o2"}`, true)},
		},
	}
}

// @requires with @external: shipping needs the product's weight (and a
// nested dimension) from products to compute its estimate.
func requiresCase() fedCase {
	return fedCase{
		name: "requires",
		subgraphs: []fedSpec{
			{name: "products", sdl: fedLink("@key", "@shareable") + `
type Query { products: [Product!]! }
type Product @key(fields: "id") { id: ID! name: String! weightGrams: Int! size: Size! }
type Size @shareable { widthCm: Int! heightCm: Int! }
`,
				root: map[string]resolver{"products": listOf(
					obj("Product", "id", "p1", "name", "Lamp", "weightGrams", 1200, "size", obj("Size", "widthCm", 20, "heightCm", 50)),
					obj("Product", "id", "p2", "name", "Desk", "weightGrams", 30000, "size", obj("Size", "widthCm", 120, "heightCm", 75)))},
			},
			{name: "shipping", sdl: fedLink("@key", "@external", "@requires", "@shareable") + `
type Product @key(fields: "id") {
  id: ID!
  weightGrams: Int! @external
  size: Size! @external
  shippingMinor: Int! @requires(fields: "weightGrams")
  bulky: Boolean! @requires(fields: "size { widthCm }")
}
type Size @shareable { widthCm: Int! heightCm: Int! }
`,
				entities: map[string]resolver{"Product": func(rep map[string]any) (any, *fakeError) {
					out := obj("Product", "id", rep["id"])
					out["shippingMinor"] = func(map[string]any) (any, *fakeError) {
						w, ok := rep["weightGrams"].(float64)
						if !ok {
							return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks the required weightGrams", rep)}
						}
						return 500 + int(w)/100, nil
					}
					out["bulky"] = func(map[string]any) (any, *fakeError) {
						size, _ := rep["size"].(map[string]any)
						w, ok := size["widthCm"].(float64)
						if !ok {
							return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks the required size.widthCm", rep)}
						}
						return w > 100, nil
					}
					return out, nil
				}},
			},
		},
		ops: []fedOp{
			{name: "required field fetched first and sent in the representation",
				query: `{ products { name shippingMinor } }`,
				check: allOf(wantOneBatch("shipping", 2), queryMentions("shipping", `"weightGrams":1200`, true))},
			{name: "nested required field",
				query: `{ products { id bulky } }`,
				check: allOf(wantOneBatch("shipping", 2), queryMentions("shipping", `"size":{"widthCm":120}`, true))},
		},
	}
}

// @provides and @external: reviews can return an author's username on the
// path that provides it; elsewhere the field is external to reviews and
// must come from accounts. reviews' fake answers "WRONG ..." for a username
// it is asked for on a path that does not provide it.
func providesExternalCase() fedCase {
	users := []map[string]any{
		obj("User", "id", "u1", "username", "ada", "email", "ada@example.com"),
		obj("User", "id", "u2", "username", "bob", "email", "bob@example.com"),
	}
	return fedCase{
		name: "provides_external",
		subgraphs: []fedSpec{
			{name: "accounts", sdl: fedLink("@key") + `
type Query { me: User }
type User @key(fields: "id") { id: ID! username: String! email: String! }
`,
				root:     map[string]resolver{"me": one(users[0])},
				entities: map[string]resolver{"User": byID("id", users...)},
			},
			{name: "reviews", sdl: fedLink("@key", "@external", "@provides") + `
type Query { topReviews: [Review!]! latestReview: Review }
type Review { id: ID! body: String! author: User! @provides(fields: "username") editor: User }
type User @key(fields: "id") { id: ID! username: String! @external reviews: [Review!]! }
`,
				root: map[string]resolver{
					"topReviews": listOf(
						obj("Review", "id", "r1", "body", "bright", "author", obj("User", "id", "u1", "username", "ada")),
						obj("Review", "id", "r2", "body", "sturdy", "author", obj("User", "id", "u2", "username", "bob"))),
					"latestReview": func(map[string]any) (any, *fakeError) {
						return obj("Review", "id", "r2", "body", "sturdy",
							"author", obj("User", "id", "u2", "username", "bob"),
							"editor", obj("User", "id", "u1", "username", "WRONG: external username taken from reviews")), nil
					},
				},
				entities: map[string]resolver{"User": func(rep map[string]any) (any, *fakeError) {
					var rs []any
					if rep["id"] == "u1" {
						rs = append(rs, obj("Review", "id", "r1", "body", "bright"))
					}
					return obj("User", "id", rep["id"], "username", "WRONG: external username taken from reviews", "reviews", rs), nil
				}},
			},
		},
		ops: []fedOp{
			{name: "provided field resolved by reviews without asking accounts",
				query: `{ topReviews { body author { id username } } }`,
				check: wantNoRequests("accounts")},
			{name: "a field not provided comes from accounts",
				query: `{ topReviews { body author { username email } } }`,
				check: wantOneBatch("accounts", 2)},
			{name: "external field on a path without @provides comes from its owner",
				query: `{ latestReview { editor { id username } } }`,
				check: allOf(wantOneBatch("accounts", 1), queryMentions("reviews", "username", false))},
			{name: "entity extension: external username from accounts, reviews from reviews",
				query: `{ me { username reviews { body } } }`,
				check: queryMentions("reviews", "username", false)},
		},
	}
}

// @shareable: the name and a value type are resolvable in both subgraphs;
// the planner must not fetch what the current subgraph already has.
func shareableCase() fedCase {
	return fedCase{
		name: "shareable",
		subgraphs: []fedSpec{
			{name: "shop", sdl: fedLink("@key", "@shareable") + `
type Query { products: [Product!]! }
type Product @key(fields: "id") { id: ID! name: String! @shareable price: Money! @shareable }
type Money @shareable { amountMinor: Int! currency: String! }
`,
				root: map[string]resolver{"products": listOf(
					obj("Product", "id", "p1", "name", "Lamp", "price", obj("Money", "amountMinor", 1999, "currency", "EUR")))},
				entities: map[string]resolver{"Product": byID("id",
					obj("Product", "id", "p1", "name", "Lamp", "price", obj("Money", "amountMinor", 1999, "currency", "EUR")))},
			},
			{name: "warehouse", sdl: fedLink("@key", "@shareable") + `
type Query { product(id: ID!): Product }
type Product @key(fields: "id") { id: ID! name: String! @shareable price: Money! @shareable inStock: Boolean! }
type Money @shareable { amountMinor: Int! currency: String! }
`,
				root: map[string]resolver{"product": func(args map[string]any) (any, *fakeError) {
					return obj("Product", "id", args["id"], "name", "Lamp", "inStock", true,
						"price", obj("Money", "amountMinor", 1999, "currency", "EUR")), nil
				}},
				entities: map[string]resolver{"Product": byID("id",
					obj("Product", "id", "p1", "name", "Lamp", "inStock", true, "price", obj("Money", "amountMinor", 1999, "currency", "EUR")))},
			},
		},
		ops: []fedOp{
			{name: "shareable fields from the root subgraph only",
				query: `{ products { id name price { amountMinor currency } } }`,
				check: wantNoRequests("warehouse")},
			{name: "shareable fields from the other root subgraph only",
				query: `{ product(id: "p1") { name price { currency } inStock } }`,
				check: wantNoRequests("shop")},
			{name: "one entity fetch for the field only the other subgraph has",
				query: `{ products { name inStock } }`,
				check: allOf(wantOneBatch("warehouse", 1), queryMentions("warehouse", " name", false))},
		},
	}
}

// @override(from:): pricing took priceMinor over from legacy, which still
// declares it and would answer a stale value.
func overrideCase() fedCase {
	return fedCase{
		name: "override",
		subgraphs: []fedSpec{
			{name: "legacy", sdl: fedLink("@key") + `
type Query { products: [Product!]! }
type Product @key(fields: "id") { id: ID! name: String! priceMinor: Int! }
`,
				root: map[string]resolver{"products": listOf(
					obj("Product", "id", "p1", "name", "Lamp", "priceMinor", -1),
					obj("Product", "id", "p2", "name", "Desk", "priceMinor", -1))},
			},
			{name: "pricing", sdl: fedLink("@key", "@override") + `
type Product @key(fields: "id") { id: ID! priceMinor: Int! @override(from: "legacy") }
`,
				entities: map[string]resolver{"Product": byID("id",
					obj("Product", "id", "p1", "priceMinor", 1999), obj("Product", "id", "p2", "priceMinor", 24900))},
			},
		},
		ops: []fedOp{
			{name: "overridden field comes from the new owner",
				query: `{ products { id name priceMinor } }`,
				check: allOf(wantOneBatch("pricing", 2), queryMentions("legacy", "priceMinor", false))},
		},
	}
}

// @inaccessible: internalCode is a key between catalog and warehouse but
// not part of the client-facing schema: the planner may use it, clients may
// neither select it (validation against the client schema refuses it before
// any fetch) nor see it in introspection.
func inaccessibleCase() fedCase {
	return fedCase{
		name: "inaccessible",
		subgraphs: []fedSpec{
			{name: "catalog", sdl: fedLink("@key", "@inaccessible") + `
type Query { products: [Product!]! }
type Product @key(fields: "id") @key(fields: "internalCode") { id: ID! internalCode: String! @inaccessible name: String! }
`,
				root: map[string]resolver{"products": listOf(
					obj("Product", "id", "p1", "internalCode", "X-17", "name", "Lamp"))},
			},
			{name: "warehouse", sdl: fedLink("@key", "@inaccessible") + `
type Product @key(fields: "internalCode") { internalCode: String! @inaccessible bin: String! }
`,
				entities: map[string]resolver{"Product": byID("internalCode", obj("Product", "internalCode", "X-17", "bin", "A-3"))},
			},
		},
		ops: []fedOp{
			{name: "an inaccessible key still joins the subgraphs",
				query: `{ products { name bin } }`,
				check: queryMentions("warehouse", `"internalCode":"X-17"`, true)},
			{name: "clients cannot select an inaccessible field",
				query: `{ products { id internalCode } }`,
				check: wantNoRequests("catalog", "warehouse")},
			{name: "nor through a fragment",
				query: `query Q { products { ...P } } fragment P on Product { name internalCode }`,
				check: wantNoRequests("catalog", "warehouse")},
			{name: "introspection hides an inaccessible field",
				query: `{ __type(name: "Product") { fields { name } } }`,
				check: wantNoRequests("catalog", "warehouse")},
		},
	}
}

// Entity batching: N orders reference customers; their names come from
// customers in ONE _entities request, and their loyalty points (a second
// hop) in one more.
func batchingCase() fedCase {
	var orders []map[string]any
	customers := []string{"c1", "c2", "c3", "c2", "c4", "c5"}
	for i, c := range customers {
		orders = append(orders, obj("Order", "id", fmt.Sprintf("o%d", i+1), "customer", obj("Customer", "id", c)))
	}
	var people []map[string]any
	for _, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		people = append(people, obj("Customer", "id", c, "name", "name of "+c))
	}
	return fedCase{
		name: "batching",
		subgraphs: []fedSpec{
			{name: "orders", sdl: fedLink("@key") + `
type Query { orders: [Order!]! }
type Order @key(fields: "id") { id: ID! customer: Customer! }
type Customer @key(fields: "id", resolvable: false) { id: ID! }
`,
				root: map[string]resolver{"orders": listOf(orders...)},
			},
			{name: "customers", sdl: fedLink("@key") + `
type Customer @key(fields: "id") { id: ID! name: String! }
`,
				entities: map[string]resolver{"Customer": byID("id", people...)},
			},
			{name: "loyalty", sdl: fedLink("@key") + `
type Customer @key(fields: "id") { id: ID! points: Int! }
`,
				entities: map[string]resolver{"Customer": func(rep map[string]any) (any, *fakeError) {
					return obj("Customer", "id", rep["id"], "points", len(fmt.Sprint(rep["id"]))*10), nil
				}},
			},
		},
		ops: []fedOp{
			{name: "six orders, five distinct customers, one batch",
				query: `{ orders { id customer { id name } } }`,
				check: allOf(wantOneBatch("customers", 5), wantNoRequests("loyalty"))},
			{name: "two subgraphs, one batch each",
				query: `{ orders { id customer { name points } } }`,
				check: allOf(wantOneBatch("customers", 5), wantOneBatch("loyalty", 5))},
		},
	}
}

// Entity fetches to one subgraph in the same wave, for two different
// entity types, go out as one request (plan.Configuration.EnableMultiFetch).
func multiFetchCase() fedCase {
	return fedCase{
		name: "multi_fetch",
		subgraphs: []fedSpec{
			{name: "shop", sdl: fedLink("@key") + `
type Query { products: [Product!]! users: [User!]! }
type Product @key(fields: "id") { id: ID! name: String! }
type User @key(fields: "id") { id: ID! name: String! }
`,
				root: map[string]resolver{
					"products": listOf(obj("Product", "id", "p1", "name", "Lamp"), obj("Product", "id", "p2", "name", "Desk")),
					"users":    listOf(obj("User", "id", "u1", "name", "Ada")),
				},
			},
			{name: "extra", sdl: fedLink("@key") + `
type Product @key(fields: "id") { id: ID! rating: Int! }
type User @key(fields: "id") { id: ID! level: Int! }
`,
				entities: map[string]resolver{
					"Product": func(rep map[string]any) (any, *fakeError) {
						return obj("Product", "id", rep["id"], "rating", len(fmt.Sprint(rep["id"]))), nil
					},
					"User": withID("User", "level", 7),
				},
			},
		},
		ops: []fedOp{
			{name: "two entity types from one subgraph, one request",
				query: `{ products { name rating } users { name level } }`,
				check: func(t *testing.T, sgs map[string]*fedSubgraph) {
					if reqs := sgs["extra"].requests(); len(reqs) != 1 {
						t.Errorf("subgraph extra got %d requests, want 1: %+v", len(reqs), reqs)
					}
				}},
		},
	}
}

// A subgraph whose key is resolvable: false shares a field with one that
// resolves the entity: an entity fetch for that field must go to the
// resolving subgraph, never ask the other for _entities.
func unresolvableKeyCase() fedCase {
	return fedCase{
		name: "resolvable_false",
		subgraphs: []fedSpec{
			{name: "refs", sdl: fedLink("@key", "@shareable") + `
type Query { ref: Thing }
type Thing @key(fields: "id", resolvable: false) { id: ID! label: String @shareable }
`,
				root: map[string]resolver{"ref": one(obj("Thing", "id", "t1", "label", "from refs"))},
			},
			{name: "things", sdl: fedLink("@key", "@shareable") + `
type Thing @key(fields: "id") { id: ID! label: String @shareable }
`,
				entities: map[string]resolver{"Thing": withID("Thing", "label", "from things")},
			},
			{name: "lists", sdl: fedLink("@key") + `
type Query { top: Thing }
type Thing @key(fields: "id") { id: ID! }
`,
				root: map[string]resolver{"top": one(obj("Thing", "id", "t1"))},
			},
		},
		ops: []fedOp{
			{name: "the shared field comes from the subgraph that resolves the entity",
				query: `{ top { id label } }`,
				check: allOf(wantNoRequests("refs"), wantOneBatch("things", 1))},
		},
	}
}

// Subgraph errors pass through with their paths and codes; when one
// subgraph fails, the others' data is still returned.
func errorsCase() fedCase {
	return fedCase{
		name: "errors",
		subgraphs: []fedSpec{
			{name: "orders", sdl: fedLink("@key") + `
type Query { orders: [Order!]! order(id: ID!): Order }
type Order @key(fields: "id") { id: ID! customer: Customer }
type Customer @key(fields: "id", resolvable: false) { id: ID! }
`,
				root: map[string]resolver{
					"orders": listOf(
						obj("Order", "id", "o1", "customer", obj("Customer", "id", "c1")),
						obj("Order", "id", "o2", "customer", obj("Customer", "id", "gone")),
						obj("Order", "id", "o3", "customer", obj("Customer", "id", "c3"))),
					"order": func(args map[string]any) (any, *fakeError) {
						return nil, &fakeError{Message: fmt.Sprintf("order %v is archived", args["id"]),
							Extensions: map[string]any{"code": "NOT_FOUND", "internal": "shard 7"}}
					},
				},
			},
			{name: "customers", sdl: fedLink("@key") + `
type Customer @key(fields: "id") { id: ID! name: String }
`,
				entities: map[string]resolver{"Customer": func(rep map[string]any) (any, *fakeError) {
					if rep["id"] == "gone" {
						return nil, &fakeError{Message: "customer gone was erased", Extensions: map[string]any{"code": "NOT_FOUND"}}
					}
					return obj("Customer", "id", rep["id"], "name", "name of "+fmt.Sprint(rep["id"])), nil
				}},
			},
			{name: "loyalty", sdl: fedLink("@key") + `
type Customer @key(fields: "id") { id: ID! points: Int }
`,
				entities: map[string]resolver{"Customer": withID("Customer", "points", 10)},
			},
		},
		setup: func(t *testing.T, sgs map[string]*fedSubgraph) { sgs["loyalty"].setDown(true) },
		ops: []fedOp{
			{name: "root field error keeps its code and path",
				query: `{ order(id: "o7") { id } }`},
			{name: "entity error is rewritten to the client path",
				query: `{ orders { id customer { name } } }`},
			{name: "a failing subgraph leaves the others' data with an error for its part",
				query: `{ orders { id customer { name points } } }`},
		},
	}
}

// @interfaceObject: media owns the Media interface entity and its
// implementations; ratings adds a field to every Media through an
// @interfaceObject type without knowing the implementations.
func interfaceObjectCase() fedCase {
	return fedCase{
		name: "interface_object",
		subgraphs: []fedSpec{
			mediaSubgraph("type Query { media: [Media!]! }\n"),
			{name: "ratings", sdl: fedLink("@key", "@interfaceObject") + `
type Query { topRated: [Media!]! }
type Media @key(fields: "id") @interfaceObject { id: ID! stars: Int! }
`,
				root: map[string]resolver{"topRated": listOf(obj("Media", "id", "m2", "stars", 5), obj("Media", "id", "m1", "stars", 4))},
				entities: map[string]resolver{"Media": byFields([]string{"id"},
					obj("Media", "id", "m1", "stars", 4), obj("Media", "id", "m2", "stars", 5))},
			},
		},
		ops: []fedOp{
			{name: "interface field added by the interfaceObject subgraph",
				query: `{ media { __typename id title stars ... on Book { author } } }`,
				check: allOf(wantOneBatch("ratings", 2), queryMentions("ratings", `"__typename":"Media"`, true))},
			{name: "interfaceObject root field: concrete types come from the interface owner",
				query: `{ topRated { __typename id stars title ... on Movie { minutes } } }`,
				check: wantOneBatch("media", 2)},
		},
	}
}
