// Package model holds the products subgraph's models.
package model

// Product is a catalogue entry. Price is in cents, Weight in grams.
type Product struct {
	Upc    string
	Name   string
	Price  int
	Weight int
}

// IsEntity marks Product as a member of the federation _Entity union.
func (Product) IsEntity() {}
