package router

// The committed supergraph is composed from the subgraph contracts in
// schema/; `go generate ./router` (or make generate) reproduces it.
//go:generate go run ../cmd/router compose -schema-dir ../schema -out ../schema/supergraph.json
