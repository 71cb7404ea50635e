// Package model holds the inventory subgraph's models.
package model

// Product is inventory's view of a product: its key plus the @external
// fields the router sends along because shippingEstimate @requires them.
type Product struct {
	Upc    string
	Price  int
	Weight int
}

// IsEntity marks Product as a member of the federation _Entity union.
func (Product) IsEntity() {}
