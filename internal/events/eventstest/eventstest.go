// Package eventstest holds the sample events tests share, so that golden
// files and expectations across packages are made from one order.
package eventstest

import (
	"time"

	"github.com/heraldhq/herald/internal/events"
)

// Order is a sample OrderCreated: two items, one of them with markup in its
// name (templates must escape it), a total in EUR.
func Order() events.OrderCreated {
	return events.OrderCreated{
		OrderID: "ord_01HX7",
		UserID:  "usr_42",
		Items: []events.OrderItem{
			{SKU: "MUG-1", Name: "Mug <Herald> & Co", Quantity: 2, UnitPriceMinor: 1250},
			{SKU: "TEE-9", Name: "T-shirt", Quantity: 1, UnitPriceMinor: 199999},
		},
		TotalMinor: 202499,
		Currency:   "EUR",
		CreatedAt:  time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
	}
}
