package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OrderCancelled: a CREATED order was cancelled. Published by the orders
// service through its outbox in the transaction that cancels the order.
const (
	TopicOrderCancelled = "OrderCancelled"
	TypeOrderCancelled  = "io.herald.order.cancelled.v1"
)

// OrderCancelled is published once an order's cancellation is committed.
// Key: user id, as OrderCreated, so a consumer of both topics can keep one
// user's events in one partition order per topic.
type OrderCancelled struct {
	OrderID     string    `json:"orderId"`
	UserID      string    `json:"userId"`
	TotalMinor  int64     `json:"totalMinor"`
	Currency    string    `json:"currency"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	CancelledAt time.Time `json:"cancelledAt"`
}

// Validate checks the invariants a consumer relies on.
func (o OrderCancelled) Validate() error {
	errs := append(idErrors(o.OrderID, o.UserID), currencyError(o.Currency))
	if o.CancelledAt.IsZero() {
		errs = append(errs, errors.New("cancelledAt is missing"))
	}
	return errors.Join(errs...)
}

// DecodeData unmarshals the JSON data of an event that notifications are
// made from, chosen by its CloudEvents type: an OrderCreated or an
// OrderCancelled value. Another type is an error.
func DecodeData(ceType string, data []byte) (any, error) {
	switch ceType {
	case TypeOrderCreated:
		return decodeAs[OrderCreated](ceType, data)
	case TypeOrderCancelled:
		return decodeAs[OrderCancelled](ceType, data)
	}
	return nil, fmt.Errorf("no notification is made from event type %q", ceType)
}

func decodeAs[T any](ceType string, data []byte) (any, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s data: %w", ceType, err)
	}
	return v, nil
}
