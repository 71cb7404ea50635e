package router

import (
	"fmt"
	"strings"
)

// conformanceCases are the graphs of the conformance suite; the operations
// and right answers are in testdata/conformance/<name>.json. Where a wrong
// plan would ask the wrong subgraph, that subgraph answers a tell-tale
// "WRONG ..." value that would show in the data.
func conformanceCases() []confCase {
	return []confCase{
		requiresFragmentsCase(),
		requiresFragmentsInaccessibleCase(),
		providesInterfaceCase(),
		providesInterfaceNestedCase(),
		providesUnionCase(),
		interfaceObjectIndirectCase(),
		abstractPartialCase(),
		childTypeDiffersCase(),
		entityChainCase(),
		entityChainListKeyCase(),
		parentEntityCase(),
		keysBySubgraphCase(),
		fed1ExtendCase(),
		fed1ExtendEverywhereCase(),
		nodeUnknownTypeCase(),
		nodeUnownedIDCase(),
		inaccessibleValuesCase(),
	}
}

// @requires whose field set selects into a union through type conditions:
// shipping needs the item's shape, whichever member it is.
func requiresFragmentsCase() confCase {
	items := []map[string]any{
		obj("Item", "id", "i1", "shape", obj("Circle", "radius", 2.0),
			"finish", obj("Paint", "code", "P1", "layers", 2, "colour", "red")),
		obj("Item", "id", "i2", "shape", obj("Square", "side", 3.0),
			"finish", obj("Varnish", "code", "V1", "layers", 3, "gloss", 80)),
		obj("Item", "id", "i3", "shape", obj("Square", "side", 1.0),
			"finish", obj("Bare", "code", "B0")),
	}
	// Finish is an interface with a sub-interface (Coated) whose members
	// the required field set reaches through nested type conditions.
	shapes := `
union Shape = Circle | Square
type Circle @shareable { radius: Float! }
type Square @shareable { side: Float! }
interface Finish { code: String! }
interface Coated implements Finish { code: String! layers: Int! }
type Paint implements Finish & Coated @shareable { code: String! layers: Int! colour: String! }
type Varnish implements Finish & Coated @shareable { code: String! layers: Int! gloss: Int! }
type Bare implements Finish @shareable { code: String! }
`
	return confCase{
		name: "requires_fragments",
		subgraphs: []fedSpec{
			{name: "items", sdl: fedLink("@key", "@shareable") + `
type Query { items: [Item!]! }
type Item @key(fields: "id") { id: ID! shape: Shape! @shareable finish: Finish @shareable }
` + shapes,
				root:     map[string]resolver{"items": listOf(items...)},
				entities: map[string]resolver{"Item": byID("id", items...)},
			},
			{name: "shipping", sdl: fedLink("@key", "@shareable", "@external", "@requires") + `
type Item @key(fields: "id") {
  id: ID!
  shape: Shape! @external
  boxCm: Float! @requires(fields: "shape { ... on Circle { radius } ... on Square { side } }")
  finish: Finish @external
  dryingHours: Int! @requires(fields: "finish { code ... on Coated { layers ... on Paint { colour } ... on Varnish { gloss } } }")
  finishLabel: String! @requires(fields: "finish { ... on Finish { code } }")
}
` + shapes,
				entities: map[string]resolver{"Item": func(rep map[string]any) (any, *fakeError) {
					out := obj("Item", "id", rep["id"])
					// Each field is computed only from the representation, and
					// fails when what it requires is missing.
					out["boxCm"] = func(map[string]any) (any, *fakeError) {
						shape, _ := rep["shape"].(map[string]any)
						switch {
						case shape["radius"] != nil:
							return 2 * shape["radius"].(float64), nil
						case shape["side"] != nil:
							return shape["side"], nil
						}
						return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks the required shape", rep)}
					}
					out["dryingHours"] = func(map[string]any) (any, *fakeError) {
						f, _ := rep["finish"].(map[string]any)
						layers, _ := f["layers"].(float64)
						switch {
						case f["code"] == nil:
							return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks finish.code", rep)}
						case f["colour"] != nil:
							return int(layers) * 4, nil
						case f["gloss"] != nil:
							return int(layers * f["gloss"].(float64) / 10), nil
						case f["layers"] != nil:
							return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks colour or gloss", rep)}
						}
						return 0, nil
					}
					out["finishLabel"] = func(map[string]any) (any, *fakeError) {
						f, _ := rep["finish"].(map[string]any)
						code, ok := f["code"].(string)
						if !ok {
							return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks finish.code", rep)}
						}
						return "finish " + code, nil
					}
					return out, nil
				}},
			},
		},
	}
}

// @provides on a field whose type is an interface: posts can answer the
// authors' names it was given along with the post; elsewhere people owns
// them. posts answers "WRONG ..." when asked for a name it does not have.
func providesInterfaceCase() confCase {
	return providesAuthorCase("provides_interface", `
interface Person { id: ID! name: String! }
type User implements Person @key(fields: "id") { id: ID! name: String! }
type Bot implements Person @key(fields: "id") { id: ID! name: String! }
`, `
type Query { posts: [Post!]! }
type Post { id: ID! author: Person! @provides(fields: "... on User { name } ... on Bot { name }") }
interface Person { id: ID! }
type User implements Person @key(fields: "id") { id: ID! name: String! @external }
type Bot implements Person @key(fields: "id") { id: ID! name: String! @external }
`)
}

// @provides on a field whose type is a union.
func providesUnionCase() confCase {
	return providesAuthorCase("provides_union", `
type User @key(fields: "id") { id: ID! name: String! }
type Bot @key(fields: "id") { id: ID! name: String! }
`, `
type Query { posts: [Post!]! }
type Post { id: ID! author: Actor! @provides(fields: "... on User { name } ... on Bot { name }") }
union Actor = User | Bot
type User @key(fields: "id") { id: ID! name: String! @external }
type Bot @key(fields: "id") { id: ID! name: String! @external }
`)
}

// providesAuthorCase is the graph of the @provides cases: people owns the
// User and Bot entities, posts provides their names on Post.author and
// answers "WRONG ..." when asked for a name it does not have. The schemas
// say what type author is.
func providesAuthorCase(name, peopleSDL, postsSDL string) confCase {
	notProvided := func(typename string) resolver { return withID(typename, "name", "WRONG: not provided here") }
	return confCase{
		name: name,
		subgraphs: []fedSpec{
			{name: "people", sdl: fedLink("@key") + peopleSDL,
				entities: map[string]resolver{
					"User": byID("id", obj("User", "id", "u1", "name", "Ada")),
					"Bot":  byID("id", obj("Bot", "id", "b1", "name", "Beep")),
				},
			},
			{name: "posts", sdl: fedLink("@key", "@external", "@provides") + postsSDL,
				root: map[string]resolver{"posts": listOf(
					obj("Post", "id", "p1", "author", obj("User", "id", "u1", "name", "Ada")),
					obj("Post", "id", "p2", "author", obj("Bot", "id", "b1", "name", "Beep")))},
				entities: map[string]resolver{"User": notProvided("User"), "Bot": notProvided("Bot")},
			},
		},
		checks: map[string]confCheck{"provided names need no entity fetch": askedNothing("people")},
	}
}

// @interfaceObject reached indirectly: shelves only knows Media as a
// non-resolvable interface object (ids), ratings extends Media through
// another interface object, and media owns the interface and its types.
func interfaceObjectIndirectCase() confCase {
	return confCase{
		name: "interface_object_indirect",
		subgraphs: []fedSpec{
			mediaSubgraph(""),
			{name: "ratings", sdl: fedLink("@key", "@interfaceObject") + `
type Media @key(fields: "id") @interfaceObject { id: ID! stars: Int! }
`,
				entities: map[string]resolver{"Media": byID("id",
					obj("Media", "id", "m1", "stars", 4), obj("Media", "id", "m2", "stars", 5))},
			},
			{name: "shelves", sdl: fedLink("@key", "@interfaceObject") + `
type Query { shelf: Shelf! }
type Shelf { name: String! items: [Media!]! }
type Media @key(fields: "id", resolvable: false) @interfaceObject { id: ID! }
`,
				root: map[string]resolver{"shelf": one(obj("Shelf", "name", "favourites", "items", []any{obj("Media", "id", "m2"), obj("Media", "id", "m1")}))},
			},
		},
	}
}

// A union and an interface only partly known to a subgraph: boards knows
// Post only, feed knows Post and Photo. boards must never be sent a type
// condition on Photo (it would refuse the operation).
func abstractPartialCase() confCase {
	return confCase{
		name: "abstract_partial",
		subgraphs: []fedSpec{
			{name: "feed", sdl: fedLink("@key") + `
type Query { feed: [Item!]! }
union Item = Post | Photo
interface Entry { id: ID! }
type Post implements Entry @key(fields: "id") { id: ID! text: String! }
type Photo implements Entry @key(fields: "id") { id: ID! url: String! }
`,
				root: map[string]resolver{"feed": listOf(obj("Post", "id", "p1", "text", "hello"), obj("Photo", "id", "f1", "url", "/f1.png"))},
				entities: map[string]resolver{"Post": byID("id", obj("Post", "id", "p1", "text", "hello"), obj("Post", "id", "p2", "text", "again")),
					"Photo": byID("id", obj("Photo", "id", "f1", "url", "/f1.png"))},
			},
			{name: "boards", sdl: fedLink("@key") + `
type Query { pinned: [Item!]! latest: Entry }
union Item = Post
interface Entry { id: ID! }
type Post implements Entry @key(fields: "id") { id: ID! likes: Int! }
`,
				root: map[string]resolver{
					"pinned": listOf(obj("Post", "id", "p2", "likes", 7)),
					"latest": one(obj("Post", "id", "p1", "likes", 3)),
				},
				entities: map[string]resolver{"Post": byID("id", obj("Post", "id", "p1", "likes", 3), obj("Post", "id", "p2", "likes", 7))},
			},
		},
		checks: map[string]confCheck{
			"union partly known to the root subgraph":     neverMentions("boards", "Photo"),
			"interface partly known to the root subgraph": neverMentions("boards", "Photo"),
		},
	}
}

// A shareable child field whose type differs between subgraphs: registry
// types Account.owner as the interface Holder (Person or Company), ledger
// as Person. ledger must not be sent a type condition on Company.
func childTypeDiffersCase() confCase {
	return confCase{
		name: "child_type_differs",
		subgraphs: []fedSpec{
			{name: "registry", sdl: fedLink("@key", "@shareable") + `
type Query { accounts: [Account!]! }
type Account @key(fields: "id") { id: ID! owner: Holder @shareable }
interface Holder { name: String! }
type Person implements Holder @shareable { name: String! }
type Company implements Holder @shareable { name: String! vat: String! }
`,
				root: map[string]resolver{"accounts": listOf(
					obj("Account", "id", "a1", "owner", obj("Person", "name", "Ada")),
					obj("Account", "id", "a2", "owner", obj("Company", "name", "Engines Ltd", "vat", "GB1")))},
				entities: map[string]resolver{"Account": byID("id",
					obj("Account", "id", "a1", "owner", obj("Person", "name", "Ada")),
					obj("Account", "id", "a2", "owner", obj("Company", "name", "Engines Ltd", "vat", "GB1")))},
			},
			{name: "ledger", sdl: fedLink("@key", "@shareable") + `
type Query { overdrawn: [Account!]! }
type Account @key(fields: "id") { id: ID! owner: Person @shareable balance: Int! }
type Person @shareable { name: String! }
`,
				root: map[string]resolver{"overdrawn": listOf(obj("Account", "id", "a1", "balance", -5, "owner", obj("Person", "name", "Ada")))},
				entities: map[string]resolver{"Account": byID("id",
					obj("Account", "id", "a1", "balance", -5, "owner", obj("Person", "name", "Ada")),
					obj("Account", "id", "a2", "balance", 900))},
			},
		},
		checks: map[string]confCheck{
			"owner through the subgraph that types it as Person": neverMentions("ledger", "Company"),
		},
	}
}

// Entity calls chained through several subgraphs: shop knows the product
// id, catalog its category id, taxonomy the category's name and
// reviews its review count.
func entityChainCase() confCase {
	return confCase{
		name: "entity_chain",
		subgraphs: []fedSpec{
			{name: "shop", sdl: fedLink("@key") + `
type Query { topProducts: [Product!]! }
type Product @key(fields: "id") { id: ID! }
`,
				root: map[string]resolver{"topProducts": listOf(obj("Product", "id", "p1"), obj("Product", "id", "p2"))},
			},
			{name: "catalog", sdl: fedLink("@key") + `
type Product @key(fields: "id") { id: ID! category: Category! }
type Category @key(fields: "id") { id: ID! }
`,
				entities: map[string]resolver{"Product": byID("id",
					obj("Product", "id", "p1", "category", obj("Category", "id", "c1")),
					obj("Product", "id", "p2", "category", obj("Category", "id", "c2")))},
			},
			{name: "taxonomy", sdl: fedLink("@key") + `
type Category @key(fields: "id") { id: ID! name: String! parent: Category }
`,
				entities: map[string]resolver{"Category": func() resolver {
					root := obj("Category", "id", "c0", "name", "Furniture")
					return byID("id", root,
						obj("Category", "id", "c1", "name", "Lamps", "parent", root),
						obj("Category", "id", "c2", "name", "Desks", "parent", root))
				}()},
			},
			{name: "reviews", sdl: fedLink("@key") + `
type Category @key(fields: "id") { id: ID! reviewCount: Int! }
`,
				entities: map[string]resolver{"Category": func(rep map[string]any) (any, *fakeError) {
					n := map[any]int{"c0": 100, "c1": 10, "c2": 20}[rep["id"]]
					return obj("Category", "id", rep["id"], "reviewCount", n), nil
				}},
			},
		},
	}
}

// An entity call through a parent entity. Category.name is a shareable
// field of the Category entity (listing, details); Category.stats exists
// only in stats, where Category is not an entity at all: the only way to it
// is the parent Product, by the composite key stats knows ("id sku").
func parentEntityCase() confCase {
	products := []map[string]any{
		obj("Product", "id", "p1", "sku", "S1", "category", obj("Category", "id", "c1", "name", "Lamps")),
		obj("Product", "id", "p2", "sku", "S2", "category", obj("Category", "id", "c2", "name", "Desks")),
	}
	return confCase{
		name: "parent_entity",
		subgraphs: []fedSpec{
			{name: "listing", sdl: fedLink("@key", "@shareable") + `
type Query { products: [Product!]! }
type Product @key(fields: "id") @key(fields: "id sku") { id: ID! sku: ID! category: Category @shareable }
type Category @key(fields: "id") { id: ID! name: String! @shareable }
`,
				root: map[string]resolver{"products": listOf(products...)},
				entities: map[string]resolver{
					"Product": byID("id", products...),
					"Category": byID("id", obj("Category", "id", "c1", "name", "Lamps"),
						obj("Category", "id", "c2", "name", "Desks")),
				},
			},
			{name: "details", sdl: fedLink("@key", "@shareable") + `
type Product @key(fields: "id sku") { id: ID! sku: ID! category: Category @shareable }
type Category @key(fields: "id") { id: ID! name: String! @shareable }
`,
				entities: map[string]resolver{
					"Product": byFields([]string{"id", "sku"}, products...),
					"Category": byID("id", obj("Category", "id", "c1", "name", "Lamps"),
						obj("Category", "id", "c2", "name", "Desks")),
				},
			},
			{name: "stats", sdl: fedLink("@key", "@shareable") + `
type Product @key(fields: "id sku") { id: ID! sku: ID! category: Category @shareable }
type Category { stats: CategoryStats }
type CategoryStats { productCount: Int }
`,
				entities: map[string]resolver{"Product": func(rep map[string]any) (any, *fakeError) {
					counts := map[any]int{"p1": 12, "p2": 30}
					n, ok := counts[rep["id"]]
					if !ok || rep["sku"] == nil {
						return nil, &fakeError{Message: fmt.Sprintf("no product %v", rep)}
					}
					return obj("Product", "id", rep["id"], "sku", rep["sku"],
						"category", obj("Category", "stats", obj("CategoryStats", "productCount", n))), nil
				}},
			},
		},
	}
}

// One type, several @key sets, each used by a different subgraph: accounts
// knows users by id and by email, billing by id only, mail by email only.
// billing -> mail and mail -> billing both go through accounts.
func keysBySubgraphCase() confCase {
	users := []map[string]any{
		obj("User", "id", "u1", "email", "ada@example.com", "name", "Ada"),
		obj("User", "id", "u2", "email", "bob@example.com", "name", "Bob"),
	}
	return confCase{
		name: "keys_by_subgraph",
		subgraphs: []fedSpec{
			{name: "accounts", sdl: fedLink("@key") + `
type User @key(fields: "id") @key(fields: "email") { id: ID! email: String! name: String! }
`,
				entities: map[string]resolver{"User": byKeys([]string{"id", "email"}, users...)},
			},
			{name: "billing", sdl: fedLink("@key") + `
type Query { subscribers: [User!]! }
type User @key(fields: "id") { id: ID! plan: String! }
`,
				root: map[string]resolver{"subscribers": listOf(obj("User", "id", "u2", "plan", "pro"))},
				entities: map[string]resolver{"User": byID("id",
					obj("User", "id", "u1", "plan", "free"), obj("User", "id", "u2", "plan", "pro"))},
			},
			{name: "mail", sdl: fedLink("@key") + `
type Query { mailboxes: [User!]! }
type User @key(fields: "email") { email: String! unread: Int! }
`,
				root: map[string]resolver{"mailboxes": listOf(obj("User", "email", "ada@example.com", "unread", 3))},
				entities: map[string]resolver{"User": byID("email",
					obj("User", "email", "ada@example.com", "unread", 3), obj("User", "email", "bob@example.com", "unread", 0))},
			},
		},
		checks: map[string]confCheck{
			"id-keyed root to the email-keyed subgraph": bothChecks(
				neverMentions("mail", `"id"`), neverMentions("billing", "email")),
			"email-keyed root to the id-keyed subgraph": bothChecks(
				neverMentions("mail", "plan"), neverMentions("billing", "email")),
		},
	}
}

// A Federation-1 subgraph (no @link) extending an entity with resolvable
// keys, every field of which it does not own marked @external (as
// Federation 1 wants it), one key composite: its own root field returns
// products that the owner completes, and the owner's products get its field.
func fed1ExtendCase() confCase {
	products := []map[string]any{
		obj("Product", "upc", "1", "sku", "S1", "name", "Lamp"),
		obj("Product", "upc", "2", "sku", "S2", "name", "Desk"),
	}
	stock := []map[string]any{
		obj("Product", "upc", "1", "sku", "S1", "name", "Lamp", "inStock", 12),
		obj("Product", "upc", "2", "sku", "S2", "name", "Desk", "inStock", 0),
	}
	byKey := func(objs []map[string]any) resolver { return byKeys([]string{"upc", "sku name"}, objs...) }
	return confCase{
		name: "fed1_extend_resolvable",
		subgraphs: []fedSpec{
			{name: "products", sdl: fedLink("@key") + `
type Query { products: [Product!]! }
type Product @key(fields: "upc") @key(fields: "sku name") { upc: String! sku: ID! name: String! }
`,
				root:     map[string]resolver{"products": listOf(products...)},
				entities: map[string]resolver{"Product": byKey(products)},
			},
			{name: "inventory", sdl: strings.TrimSpace(`
extend type Query { restock: [Product!]! }
extend type Product @key(fields: "sku name") @key(fields: "upc") {
  sku: ID @external
  name: String @external
  upc: String @external
  inStock: Int!
}
`),
				root:     map[string]resolver{"restock": listOf(stock[1])},
				entities: map[string]resolver{"Product": byKey(stock)},
			},
		},
	}
}

// The Node interface asked for an id whose type no subgraph defines: the
// subgraph answers an object of a type the schema does not have, which
// cannot complete the abstract field (GraphQL: ResolveAbstractType must
// yield a possible type of Node).
func nodeUnknownTypeCase() confCase {
	return confCase{
		name: "node_unknown_type",
		subgraphs: []fedSpec{
			{name: "nodes", sdl: fedLink("@key") + `
type Query { node(id: ID!): Node }
interface Node { id: ID! }
type Book implements Node @key(fields: "id") { id: ID! }
`,
				root: map[string]resolver{"node": func(args map[string]any) (any, *fakeError) {
					id, _ := args["id"].(string)
					typename, _, _ := strings.Cut(id, ":")
					return obj(typename, "id", id), nil
				}},
			},
			{name: "books", sdl: fedLink("@key") + `
interface Node { id: ID! }
type Book implements Node @key(fields: "id") { id: ID! title: String! }
`,
				entities: map[string]resolver{"Book": byID("id", obj("Book", "id", "Book:1", "title", "Notes on the Engine"))},
			},
		},
	}
}

// @inaccessible values in answers: an enum value and a union member that
// are not in the client schema. A subgraph answering them is a field error
// for the client (the value cannot be serialised as the client's enum; the
// object is of no possible type of the client's union).
func inaccessibleValuesCase() confCase {
	return confCase{
		name: "inaccessible_values",
		subgraphs: []fedSpec{
			{name: "catalog", sdl: fedLink("@key", "@inaccessible") + `
type Query { products: [Product!]! search: [Hit]! featured: Product latest: Doc }
enum Status { ACTIVE RETIRED SECRET @inaccessible }
interface Doc { id: ID! }
type Product implements Doc @key(fields: "id") { id: ID! status: Status }
type Note implements Doc @inaccessible { id: ID! }
union Hit = Product | Note
`,
				root: map[string]resolver{
					"products": listOf(obj("Product", "id", "p1", "status", "ACTIVE"), obj("Product", "id", "p2", "status", "SECRET")),
					"search":   listOf(obj("Product", "id", "p1", "status", "ACTIVE"), obj("Note", "id", "n1")),
					"featured": one(obj("Product", "id", "p2", "status", "SECRET")),
					"latest":   one(obj("Note", "id", "n1")),
				},
			},
		},
	}
}

// Node lookups where each subgraph owns the id of one Node type only: both
// have Query.node (shareable), people owns Person.id and marks Team.id
// @external, teams the other way round. A node's id cannot be resolved by
// any one subgraph for every type, so { node { id } } has no valid plan and
// must be an error, never an id the subgraph does not own (their fakes
// answer "WRONG ..." for those).
func nodeUnownedIDCase() confCase {
	return confCase{
		name: "node_unowned_id",
		subgraphs: []fedSpec{
			{name: "people", sdl: fedLink("@key", "@shareable", "@external") + `
type Query { node(id: ID!): Node @shareable person(id: ID!): Person }
interface Node { id: ID! }
type Person implements Node @key(fields: "id") { id: ID! name: String! }
type Team implements Node @key(fields: "id") { id: ID! @external lead: Person! }
`,
				root: map[string]resolver{
					"node": byArg("id", map[string]map[string]any{
						"p1": obj("Person", "id", "p1", "name", "Ada"),
						"t1": obj("Team", "id", "WRONG: external Team.id from people", "lead", obj("Person", "id", "p1", "name", "Ada")),
					}),
					"person": one(obj("Person", "id", "p1", "name", "Ada")),
				},
				entities: map[string]resolver{
					"Person": byID("id", obj("Person", "id", "p1", "name", "Ada")),
					"Team":   withID("Team", "lead", obj("Person", "id", "p1", "name", "Ada")),
				},
			},
			{name: "teams", sdl: fedLink("@key", "@shareable", "@external") + `
type Query { node(id: ID!): Node @shareable team(id: ID!): Team }
interface Node { id: ID! }
type Person implements Node @key(fields: "id") { id: ID! @external teams: [Team!]! }
type Team implements Node @key(fields: "id") { id: ID! title: String! }
`,
				root: map[string]resolver{
					"node": byArg("id", map[string]map[string]any{
						"t1": obj("Team", "id", "t1", "title", "Core"),
						"p1": obj("Person", "id", "WRONG: external Person.id from teams", "teams", []any{obj("Team", "id", "t1", "title", "Core")}),
					}),
					"team": one(obj("Team", "id", "t1", "title", "Core")),
				},
				entities: map[string]resolver{
					"Team":   byID("id", obj("Team", "id", "t1", "title", "Core")),
					"Person": withID("Person", "teams", []any{obj("Team", "id", "t1", "title", "Core")}),
				},
			},
		},
	}
}

// @requires through nested interfaces whose field set names a member that
// is @inaccessible in the requiring subgraph (so in the client schema too):
// the planner still has to fetch it, from the owner, for the requirement.
func requiresFragmentsInaccessibleCase() confCase {
	parts := `
interface Part { serial: String! }
interface Powered implements Part { serial: String! volts: Int! }
type Motor implements Part & Powered @shareable { serial: String! volts: Int! rpm: Int! }
`
	gadgets := []map[string]any{
		obj("Gadget", "id", "g1", "part", obj("Motor", "serial", "M-1", "volts", 12, "rpm", 3000)),
		obj("Gadget", "id", "g2", "part", obj("Battery", "serial", "B-1", "volts", 5, "mah", 2000)),
	}
	return confCase{
		name: "requires_fragments_inaccessible",
		subgraphs: []fedSpec{
			{name: "owner", sdl: fedLink("@key", "@shareable") + `
type Query { ownerGadget: Gadget }
type Gadget @key(fields: "id") { id: ID! part: Part }
type Battery implements Part & Powered @shareable { serial: String! volts: Int! mah: Int! }
` + parts,
				root:     map[string]resolver{"ownerGadget": one(gadgets[1])},
				entities: map[string]resolver{"Gadget": byID("id", gadgets...)},
			},
			{name: "requirer", sdl: fedLink("@key", "@shareable", "@external", "@requires", "@inaccessible") + `
type Query { requirerGadget: Gadget }
type Gadget @key(fields: "id") {
  id: ID!
  part: Part @external
  summary: String! @requires(fields: "part { serial ... on Powered { volts ... on Battery { mah } ... on Motor { rpm } } }")
}
type Battery implements Part & Powered @shareable @inaccessible { serial: String! volts: Int! mah: Int! }
` + parts,
				root: map[string]resolver{"requirerGadget": one(obj("Gadget", "id", "g1"))},
				entities: map[string]resolver{"Gadget": func(rep map[string]any) (any, *fakeError) {
					out := obj("Gadget", "id", rep["id"])
					out["summary"] = func(map[string]any) (any, *fakeError) {
						p, _ := rep["part"].(map[string]any)
						volts, _ := p["volts"].(float64)
						switch {
						case p["serial"] == nil || p["volts"] == nil:
							return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks part.serial or part.volts", rep)}
						case p["rpm"] != nil:
							return fmt.Sprintf("%v %vV %vrpm", p["serial"], volts, p["rpm"]), nil
						case p["mah"] != nil:
							return fmt.Sprintf("%v %vV %vmAh", p["serial"], volts, p["mah"]), nil
						}
						return nil, &fakeError{Message: fmt.Sprintf("representation %v lacks rpm or mah", rep)}
					}
					return out, nil
				}},
			},
		},
	}
}

// @provides on a root field of interface type, providing a list field of
// the interface and, below it, fields of another interface: guide knows
// the featured exhibit with its animals' ids and names, none of which it
// owns (its types have no keys); zoo owns them and the animals' ages.
func providesInterfaceNestedCase() confCase {
	interfaces := `
interface Exhibit { id: ID! animals: [Animal] }
interface Animal { id: ID! name: String }
`
	return confCase{
		name: "provides_interface_nested",
		subgraphs: []fedSpec{
			{name: "zoo", sdl: fedLink("@key", "@shareable") + `
type Cage implements Exhibit @key(fields: "id") { id: ID! animals: [Animal] @shareable }
type Lion implements Animal @key(fields: "id") { id: ID! name: String @shareable age: Int }
type Owl implements Animal @key(fields: "id") { id: ID! name: String @shareable age: Int }
` + interfaces,
				entities: map[string]resolver{
					"Cage": byID("id", obj("Cage", "id", "c1", "animals", []any{obj("Lion", "id", "l1", "name", "Leo"), obj("Owl", "id", "o1", "name", "Hoot")})),
					"Lion": byID("id", obj("Lion", "id", "l1", "name", "Leo", "age", 7)),
					"Owl":  byID("id", obj("Owl", "id", "o1", "name", "Hoot", "age", 2)),
				},
			},
			{name: "guide", sdl: fedLink("@key", "@shareable", "@provides", "@external") + `
type Query { featured: Exhibit @shareable @provides(fields: "animals { id name }") }
type Cage implements Exhibit { id: ID! @shareable animals: [Animal] @external }
type Lion implements Animal { id: ID! @external name: String @external }
type Owl implements Animal { id: ID! @external name: String @external }
` + interfaces,
				root: map[string]resolver{"featured": one(obj("Cage", "id", "c1", "animals", []any{obj("Lion", "id", "l1", "name", "Leo"), obj("Owl", "id", "o1", "name", "Hoot")}))},
			},
		},
		checks: map[string]confCheck{"provided list of interface objects": askedNothing("zoo")},
	}
}

// An entity call whose key is a list of other entities with fields from a
// third subgraph: catalog knows a Pick by "items { id code }", shop knows
// the pick's items by id only, and link maps an item's id to its code.
func entityChainListKeyCase() confCase {
	items := []map[string]any{
		obj("Item", "id", "i1", "code", "C-1"),
		obj("Item", "id", "i2", "code", "C-2"),
	}
	return confCase{
		name: "entity_chain_list_key",
		subgraphs: []fedSpec{
			{name: "shop", sdl: fedLink("@key") + `
type Query { topPicks: Pick! }
type Pick @key(fields: "items { id }") { items: [Item!]! }
type Item @key(fields: "id") { id: ID! }
`,
				root:     map[string]resolver{"topPicks": one(obj("Pick", "items", []any{obj("Item", "id", "i1"), obj("Item", "id", "i2")}))},
				entities: map[string]resolver{"Item": byID("id", obj("Item", "id", "i1"), obj("Item", "id", "i2"))},
			},
			{name: "link", sdl: fedLink("@key") + `
type Item @key(fields: "id") @key(fields: "id code") { id: ID! code: String! }
`,
				entities: map[string]resolver{"Item": byID("id", items...)},
			},
			{name: "catalog", sdl: fedLink("@key", "@shareable") + `
type Pick @key(fields: "items { id code }") { items: [Item!]! best: Item @shareable }
type Item @key(fields: "id code") { id: ID! code: String! }
`,
				entities: map[string]resolver{
					"Pick": func(rep map[string]any) (any, *fakeError) {
						list, _ := rep["items"].([]any)
						if len(list) != 2 {
							return nil, &fakeError{Message: fmt.Sprintf("unknown pick %v", rep)}
						}
						for _, it := range list {
							m, _ := it.(map[string]any)
							if m["code"] == nil {
								return nil, &fakeError{Message: fmt.Sprintf("pick key without item codes: %v", rep)}
							}
						}
						return obj("Pick", "items", list, "best", obj("Item", "id", "i2", "code", "C-2")), nil
					},
					"Item": byFields([]string{"id", "code"}, items...),
				},
			},
		},
	}
}

// Federation-1 subgraphs only, each extending the entity (no subgraph
// defines it without extend) and marking the key field @external in every
// one, as Federation 1 allowed.
func fed1ExtendEverywhereCase() confCase {
	return confCase{
		name: "fed1_extend_everywhere",
		subgraphs: []fedSpec{
			{name: "names", sdl: strings.TrimSpace(`
extend type Query { productInNames: Product }
extend type Product @key(fields: "upc") {
  upc: String! @external
  name: String!
}
`),
				root:     map[string]resolver{"productInNames": one(obj("Product", "upc", "1", "name", "Lamp"))},
				entities: map[string]resolver{"Product": byID("upc", obj("Product", "upc", "1", "name", "Lamp"), obj("Product", "upc", "2", "name", "Desk"))},
			},
			{name: "prices", sdl: strings.TrimSpace(`
extend type Query { productInPrices: Product }
extend type Product @key(fields: "upc") {
  upc: String! @external
  price: Int!
}
`),
				root:     map[string]resolver{"productInPrices": one(obj("Product", "upc", "2", "price", 250))},
				entities: map[string]resolver{"Product": byID("upc", obj("Product", "upc", "1", "price", 100), obj("Product", "upc", "2", "price", 250))},
			},
		},
	}
}
