package orders

import (
	"time"

	entorders "github.com/heraldhq/herald/ent/orders"
	"github.com/heraldhq/herald/subgraphs/orders/model"
)

// toOrder maps a row (with its items loaded) to the API type. Order.user is
// a stub carrying the id: the users subgraph resolves the rest.
func toOrder(o *entorders.Order) *model.Order {
	items := make([]model.OrderItem, len(o.Edges.Items))
	for i, it := range o.Edges.Items {
		items[i] = model.OrderItem{
			Sku:            it.Sku,
			Name:           it.Name,
			Quantity:       it.Quantity,
			UnitPriceMinor: int(it.UnitPriceMinor),
		}
	}
	return &model.Order{
		ID:           o.ID,
		UserID:       o.UserID,
		User:         &model.User{ID: o.UserID},
		Items:        items,
		TotalMinor:   int(o.TotalMinor),
		Currency:     o.Currency,
		Status:       model.OrderStatus(o.Status),
		CreatedAt:    o.CreatedAt.UTC(),
		UpdatedAt:    o.UpdatedAt.UTC(),
		CancelledAt:  utc(o.CancelledAt),
		CancelReason: o.CancelReason,
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
