package accounts

import "github.com/heraldhq/herald/bench/router/subgraphs/accounts/model"

// users is the fixed data set; ids match the reviews subgraph's authors.
var users = map[string]*model.User{
	"1": {ID: "1", Name: "Ada Lovelace", Username: "ada"},
	"2": {ID: "2", Name: "Alan Turing", Username: "alan"},
	"3": {ID: "3", Name: "Grace Hopper", Username: "grace"},
	"4": {ID: "4", Name: "Edsger Dijkstra", Username: "edsger"},
}
