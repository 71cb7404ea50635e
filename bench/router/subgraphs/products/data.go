package products

import "github.com/heraldhq/herald/bench/router/subgraphs/products/model"

// products is the fixed catalogue, best sellers first.
var products = []model.Product{
	{Upc: "1", Name: "Table", Price: 899, Weight: 100},
	{Upc: "2", Name: "Couch", Price: 1299, Weight: 1000},
	{Upc: "3", Name: "Chair", Price: 54, Weight: 50},
	{Upc: "4", Name: "Lamp", Price: 2500, Weight: 300},
	{Upc: "5", Name: "Rug", Price: 4000, Weight: 2000},
	{Upc: "6", Name: "Shelf", Price: 150, Weight: 700},
}

func productByUpc(upc string) *model.Product {
	for i := range products {
		if products[i].Upc == upc {
			return &products[i]
		}
	}
	return nil
}

// top returns the first n products (5 when n is nil), never more than exist.
func top(n *int) []model.Product {
	k := 5
	if n != nil {
		k = *n
	}
	return products[:max(0, min(k, len(products)))]
}
