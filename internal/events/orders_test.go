package events

import (
	"strings"
	"testing"
	"time"
)

func TestOrderCancelledRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 123000, time.UTC)
	in := OrderCancelled{OrderID: "o1", UserID: "u1", TotalMinor: 2550, Currency: "EUR", Reason: "late",
		CreatedAt: at.Add(-time.Hour), CancelledAt: at}
	m, err := Encode(TopicOrderCancelled, in.UserID, Envelope{ID: "e1", Source: "herald/orders", Type: TypeOrderCancelled, Subject: "o1", Time: at}, in)
	if err != nil {
		t.Fatal(err)
	}
	var out OrderCancelled
	env, err := Decode(m, TypeOrderCancelled, &out)
	if err != nil || env.ID != "e1" || env.Subject != "o1" || m.Key != "u1" || m.Topic != "OrderCancelled" {
		t.Fatalf("Decode = %+v, %v (message %+v)", env, err, m)
	}
	if out != in {
		t.Fatalf("round trip: %+v, want %+v", out, in)
	}
	if err := out.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(m, TypeOrderCreated, &out); err == nil {
		t.Fatal("an OrderCancelled decoded as OrderCreated")
	}
	// No reason: the field is left out of the JSON.
	in.Reason = ""
	m, _ = Encode(TopicOrderCancelled, in.UserID, Envelope{ID: "e2", Source: "s", Type: TypeOrderCancelled, Time: at}, in)
	if strings.Contains(string(m.Value), "reason") {
		t.Fatalf("empty reason encoded: %s", m.Value)
	}
}

func TestOrderCancelledValidate(t *testing.T) {
	err := OrderCancelled{Currency: "EURO"}.Validate()
	for _, want := range []string{"orderId", "userId", "currency", "cancelledAt"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}
