package subgraphs

// Query is one benchmark operation: Router is sent to the router; Floor is a
// query of the same shape that one subgraph (FloorSubgraph, the one doing
// most of the work) answers alone, sent to it directly to measure the floor.
type Query struct {
	Name          string
	Router        string
	Floor         string
	FloorSubgraph string
}

// Queries are the benchmark's operations by name.
var Queries = map[string]Query{
	// typical: a product list with fields from every subgraph. The plan is
	// products → (inventory with @requires price/weight ‖ reviews, username
	// @provided) → accounts for the authors' names.
	"typical": {
		Name: "typical", FloorSubgraph: "reviews",
		Router: `query TopProducts { topProducts(first: 5) { upc name price weight inStock shippingEstimate ` +
			`reviews { id body author { id name username } } } }`,
		Floor: `query LatestReviews { latestReviews(first: 10) { id body author { id username } product { upc } } }`,
	},
	// deep: products → reviews → author → reviews → product → reviews →
	// author → reviews → product, asking at most levels for a field another
	// subgraph owns: the router sends the review chain to reviews in one
	// fetch, then gathers names, prices and stock in batched entity fetches
	// (7 fetches in all) and merges a large answer.
	"deep": {
		Name: "deep", FloorSubgraph: "reviews",
		Router: `query Deep { topProducts(first: 5) { name reviews { body author { name username reviews { body ` +
			`product { name price reviews { body author { name reviews { body product { name inStock shippingEstimate } } } } } } } } } }`,
		Floor: `query DeepReviews { latestReviews(first: 5) { body author { username reviews { body ` +
			`product { upc reviews { body author { username reviews { body product { upc } } } } } } } } }`,
	},
	// three-subgraph: the query routers on this engine are commonly compared
	// on (graphql-go-tools' federation test gateway workload, "MultipleServers"):
	// products' topProducts, then every product's reviews from reviews in one
	// batched entity fetch, author usernames @provided there, so two fetches.
	// The floor is the first hop, products alone.
	"three-subgraph": {
		Name: "three-subgraph", FloorSubgraph: "products",
		Router: `query MultipleServers { topProducts { name reviews { body author { username } } } }`,
		Floor:  `query TopProducts { topProducts { upc name price weight } }`,
	},
}
