// Package model holds the reviews subgraph's models. They keep ids rather
// than pointers: author, product and the reviews lists are resolvers, so the
// object graph can be cyclic (a review's author's reviews) without cycles in
// memory.
package model

// Review is one product review.
type Review struct {
	ID         string
	Body       string
	AuthorID   string
	ProductUpc string
}

// User is the reviews subgraph's view of an account: its key and the
// username it stores alongside each review, which it @provides.
type User struct {
	ID       string
	Username string
}

// IsEntity marks User as a member of the federation _Entity union.
func (User) IsEntity() {}

// Product is the reviews subgraph's view of a product: only its key.
type Product struct {
	Upc string
}

// IsEntity marks Product as a member of the federation _Entity union.
func (Product) IsEntity() {}
