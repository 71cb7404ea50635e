package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/stream"
)

// FuzzDecodeOrderCreated feeds arbitrary header values and bodies to the
// consumer-side parser: it must never panic, and whatever it accepts must
// carry an id, the right type, and data that survives a round trip through
// Encode. Seeds live in testdata/fuzz/FuzzDecodeOrderCreated.
func FuzzDecodeOrderCreated(f *testing.F) {
	good, err := Encode(TopicOrderCreated, "u1", Envelope{ID: "e1", Source: "herald/orders", Type: TypeOrderCreated, Time: time.Unix(1700000000, 0)},
		OrderCreated{OrderID: "o1", UserID: "u1", Currency: "EUR", TotalMinor: 900, Items: []OrderItem{{SKU: "T", Name: "Tea", Quantity: 2, UnitPriceMinor: 450}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("1.0", "e1", TypeOrderCreated, "2023-11-14T22:13:20Z", good.Value)
	f.Fuzz(func(t *testing.T, spec, id, typ, at string, body []byte) {
		m := stream.Message{Topic: TopicOrderCreated, Value: body, Headers: []stream.Header{
			{Key: HeaderSpecVersion, Value: spec}, {Key: HeaderID, Value: id}, {Key: HeaderType, Value: typ}, {Key: HeaderTime, Value: at},
		}}
		var got OrderCreated
		env, err := Decode(m, TypeOrderCreated, &got)
		if err != nil {
			return
		}
		if env.ID == "" || env.Type != TypeOrderCreated {
			t.Fatalf("accepted an event without id or with type %q", env.Type)
		}
		again, err := Encode(TopicOrderCreated, got.UserID, env, got)
		if err != nil {
			t.Fatalf("accepted data does not encode again: %v", err)
		}
		var back OrderCreated
		if _, err := Decode(again, TypeOrderCreated, &back); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(back)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the data:\n%s\n%s", a, b)
		}
	})
}
