package orders

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/subgraphs/orders/model"
)

func TestRequestHash(t *testing.T) {
	base := validInput()
	hash := func(edit func(in *model.CreateOrderInput)) string {
		in := validInput()
		in.Items = append([]model.OrderItemInput(nil), base.Items...)
		edit(&in)
		d, errs := ValidateOrderInput(in)
		if len(errs) > 0 {
			t.Fatalf("input refused: %v", errs)
		}
		return RequestHash(d)
	}
	h0 := hash(func(*model.CreateOrderInput) {})
	if len(h0) != 64 || strings.Trim(h0, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not hex SHA-256", h0)
	}
	key := "k-1"
	same := map[string]func(in *model.CreateOrderInput){
		"blanks around sku and name": func(in *model.CreateOrderInput) {
			in.Items[0].Sku = " " + in.Items[0].Sku + "\t"
			in.Items[0].Name += "  "
		},
		"blanks around user id": func(in *model.CreateOrderInput) { in.UserID = " " + in.UserID },
		"the key itself":        func(in *model.CreateOrderInput) { in.IdempotencyKey = &key },
	}
	for name, edit := range same {
		if h := hash(edit); h != h0 {
			t.Errorf("%s changed the hash", name)
		}
	}
	different := map[string]func(in *model.CreateOrderInput){
		"user":     func(in *model.CreateOrderInput) { in.UserID = "u-2" },
		"currency": func(in *model.CreateOrderInput) { in.Currency = "USD" },
		"sku":      func(in *model.CreateOrderInput) { in.Items[0].Sku += "x" },
		"name":     func(in *model.CreateOrderInput) { in.Items[0].Name += "x" },
		"quantity": func(in *model.CreateOrderInput) { in.Items[0].Quantity++ },
		"price":    func(in *model.CreateOrderInput) { in.Items[0].UnitPriceMinor++ },
		"a line more": func(in *model.CreateOrderInput) {
			in.Items = append(in.Items, model.OrderItemInput{Sku: "X", Name: "Y", Quantity: 1, UnitPriceMinor: 1})
		},
		// Moving text between fields must not collide (no separator games).
		"sku|name boundary": func(in *model.CreateOrderInput) {
			in.Items[0].Sku, in.Items[0].Name = in.Items[0].Sku+in.Items[0].Name[:1], in.Items[0].Name[1:]
		},
	}
	seen := map[string]string{h0: "base"}
	for name, edit := range different {
		h := hash(edit)
		if prev, dup := seen[h]; dup {
			t.Errorf("%s hashes like %s", name, prev)
		}
		seen[h] = name
	}
}

// FuzzRequestHash: the hash depends on exactly the stored order. Two drafts
// hash alike if and only if their canonical fields are equal, and hashing
// is deterministic.
func FuzzRequestHash(f *testing.F) {
	f.Fuzz(func(t *testing.T, user1, sku1, name1 string, qty1, price1 int, user2, sku2, name2 string, qty2, price2 int) {
		mk := func(user, sku, name string, qty, price int) (Draft, bool) {
			d, errs := ValidateOrderInput(model.CreateOrderInput{UserID: user, Currency: "EUR",
				Items: []model.OrderItemInput{{Sku: sku, Name: name, Quantity: qty, UnitPriceMinor: price}}})
			return d, len(errs) == 0
		}
		d1, ok1 := mk(user1, sku1, name1, qty1, price1)
		d2, ok2 := mk(user2, sku2, name2, qty2, price2)
		if !ok1 || !ok2 {
			return
		}
		h1, h2 := RequestHash(d1), RequestHash(d2)
		if h1 != RequestHash(d1) {
			t.Fatal("hash is not deterministic")
		}
		equal := d1.UserID == d2.UserID && d1.Currency == d2.Currency && len(d1.Items) == len(d2.Items) &&
			d1.Items[0] == d2.Items[0]
		if equal != (h1 == h2) {
			t.Fatalf("drafts %+v and %+v: equal=%v but hashes equal=%v", d1, d2, equal, h1 == h2)
		}
	})
}

func FuzzIdempotencyKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string) {
		in := validInput()
		in.IdempotencyKey = &key
		d, errs := ValidateOrderInput(in)
		ok := len(key) >= 1 && len(key) <= maxIdempotencyKeyLen && strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0
		if ok != (len(errs) == 0) {
			t.Fatalf("key %q: accepted=%v, errors %v", key, len(errs) == 0, errs)
		}
		for _, e := range errs {
			if e.Field != "input.idempotencyKey" {
				t.Fatalf("key %q reported on %s", key, e.Field)
			}
		}
		if ok && d.IdempotencyKey != key {
			t.Fatalf("key %q stored as %q", key, d.IdempotencyKey)
		}
	})
}
