package orders

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/subgraphs/orders/model"
)

func validInput() model.CreateOrderInput {
	return model.CreateOrderInput{
		UserID:   "u-1",
		Currency: "EUR",
		Items: []model.OrderItemInput{
			{Sku: "SKU-1", Name: "Tea", Quantity: 2, UnitPriceMinor: 450},
			{Sku: "SKU-2", Name: "Cup", Quantity: 1, UnitPriceMinor: 0},
		},
	}
}

func TestValidateOrderInput(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*model.CreateOrderInput)
		fields []string // the fields reported, in order; none means valid
	}{
		{"valid", func(*model.CreateOrderInput) {}, nil},
		{"empty user", func(in *model.CreateOrderInput) { in.UserID = "  " }, []string{"input.userId"}},
		{"user with NUL", func(in *model.CreateOrderInput) { in.UserID = "a\x00b" }, []string{"input.userId"}},
		{"no items", func(in *model.CreateOrderInput) { in.Items = nil }, []string{"input.items"}},
		{"zero quantity", func(in *model.CreateOrderInput) { in.Items[0].Quantity = 0 }, []string{"input.items[0].quantity"}},
		{"negative quantity", func(in *model.CreateOrderInput) { in.Items[1].Quantity = -3 }, []string{"input.items[1].quantity"}},
		{"negative price", func(in *model.CreateOrderInput) { in.Items[1].UnitPriceMinor = -1 }, []string{"input.items[1].unitPriceMinor"}},
		{"empty sku", func(in *model.CreateOrderInput) { in.Items[0].Sku = "" }, []string{"input.items[0].sku"}},
		{"empty name", func(in *model.CreateOrderInput) { in.Items[1].Name = " \t" }, []string{"input.items[1].name"}},
		{"invalid utf-8 name", func(in *model.CreateOrderInput) { in.Items[1].Name = "\xff" }, []string{"input.items[1].name"}},
		{"lower-case currency", func(in *model.CreateOrderInput) { in.Currency = "eur" }, []string{"input.currency"}},
		{"unknown currency", func(in *model.CreateOrderInput) { in.Currency = "ABC" }, []string{"input.currency"}},
		{"long currency", func(in *model.CreateOrderInput) { in.Currency = "EURO" }, []string{"input.currency"}},
		{"empty currency", func(in *model.CreateOrderInput) { in.Currency = "" }, []string{"input.currency"}},
		{"no currency (XXX)", func(in *model.CreateOrderInput) { in.Currency = "XXX" }, []string{"input.currency"}},
		{"testing code (XTS)", func(in *model.CreateOrderInput) { in.Currency = "XTS" }, []string{"input.currency"}},
		{"gold (XAU)", func(in *model.CreateOrderInput) { in.Currency = "XAU" }, []string{"input.currency"}},
		{"special drawing right (XDR)", func(in *model.CreateOrderInput) { in.Currency = "XDR" }, []string{"input.currency"}},
		{"withdrawn currency (DEM)", func(in *model.CreateOrderInput) { in.Currency = "DEM" }, []string{"input.currency"}},
		{"bidi override in item name", func(in *model.CreateOrderInput) { in.Items[0].Name = "Mug \u202Egpj.exe" }, []string{"input.items[0].name"}},
		{"line separator in item name", func(in *model.CreateOrderInput) { in.Items[1].Name = "Mug\u2028x" }, []string{"input.items[1].name"}},
		{"total over Int", func(in *model.CreateOrderInput) {
			in.Items[0].Quantity, in.Items[0].UnitPriceMinor = 2, math.MaxInt32/2+1
		}, []string{"input.items"}},
		{"price over Int", func(in *model.CreateOrderInput) { in.Items[0].UnitPriceMinor = math.MaxInt32 + 1 }, []string{"input.items[0].unitPriceMinor"}},
		{"quantity over Int", func(in *model.CreateOrderInput) { in.Items[0].Quantity = math.MaxInt64 }, []string{"input.items[0].quantity"}},
		{"several problems", func(in *model.CreateOrderInput) {
			in.UserID, in.Currency, in.Items[1].Quantity = "", "usd", 0
		}, []string{"input.userId", "input.currency", "input.items[1].quantity"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := validInput()
			c.edit(&in)
			d, errs := ValidateOrderInput(in)
			var got []string
			for _, e := range errs {
				if e.Code != apperr.BadUserInput {
					t.Errorf("code %s, want BAD_USER_INPUT", e.Code)
				}
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(c.fields, ",") {
				t.Fatalf("fields %v, want %v (errors %v)", got, c.fields, errs)
			}
			if c.fields == nil && (d.TotalMinor != 900 || len(d.Items) != 2 || d.UserID != "u-1" || d.Currency != "EUR") {
				t.Fatalf("draft %+v", d)
			}
		})
	}
}

var fieldRE = regexp.MustCompile(`^input\.(userId|currency|items|items\[(\d+)\]\.(sku|name|quantity|unitPriceMinor))$`)

// FuzzValidateOrderInput checks that validation never panics, reports only
// BAD_USER_INPUT on known fields, reports a field only when it is wrong, and
// accepts only orders that keep every invariant the database and the
// OrderCreated consumers rely on. Seeds: testdata/fuzz/FuzzValidateOrderInput.
func FuzzValidateOrderInput(f *testing.F) {
	f.Fuzz(func(t *testing.T, userID, cur, sku, name string, qty, price int, n uint8) {
		in := model.CreateOrderInput{UserID: userID, Currency: cur}
		for i := range int(n % 4) {
			// Vary the lines a little so that totals and indexes differ.
			in.Items = append(in.Items, model.OrderItemInput{Sku: sku, Name: name, Quantity: qty + i, UnitPriceMinor: price})
		}
		d, errs := ValidateOrderInput(in)
		badCurrency := len(cur) != 3 || strings.ToUpper(cur) != cur || !inUse[cur] ||
			strings.HasPrefix(cur, "X") && !map[string]bool{"XAF": true, "XOF": true, "XCD": true, "XPF": true}[cur]
		for _, e := range errs {
			m := fieldRE.FindStringSubmatch(e.Field)
			if e.Code != apperr.BadUserInput || m == nil || e.Message == "" {
				t.Fatalf("unexpected problem %+v", e)
			}
			switch {
			case e.Field == "input.currency" && !badCurrency:
				t.Fatalf("currency %q reported", cur)
			case e.Field == "input.userId" && cleanID(userID):
				t.Fatalf("userId %q reported", userID)
			case m[3] == "quantity" && qty+atoi(m[2]) > 0 && qty+atoi(m[2]) <= math.MaxInt32:
				t.Fatalf("quantity %d reported", qty+atoi(m[2]))
			case m[3] == "unitPriceMinor" && price >= 0 && price <= math.MaxInt32:
				t.Fatalf("price %d reported", price)
			}
		}
		if len(errs) > 0 {
			return
		}
		// Accepted: every invariant holds.
		if d.UserID == "" || d.UserID != strings.TrimSpace(d.UserID) || !utf8.ValidString(d.UserID) {
			t.Fatalf("accepted userId %q", d.UserID)
		}
		if badCurrency {
			t.Fatalf("accepted currency %q", cur)
		}
		if len(d.Items) == 0 || len(d.Items) != len(in.Items) {
			t.Fatalf("accepted %d items from %d", len(d.Items), len(in.Items))
		}
		var total int64
		for _, it := range d.Items {
			if it.Quantity <= 0 || it.UnitPriceMinor < 0 || it.SKU == "" || it.Name == "" ||
				!utf8.ValidString(it.SKU) || !utf8.ValidString(it.Name) || strings.ContainsRune(it.SKU+it.Name, 0) {
				t.Fatalf("accepted item %+v", it)
			}
			total += int64(it.Quantity) * it.UnitPriceMinor
		}
		if total != d.TotalMinor || total > math.MaxInt32 {
			t.Fatalf("total %d, draft says %d", total, d.TotalMinor)
		}
	})
}

// cleanID is the oracle for an acceptable user id: not blank, at most 128
// bytes, valid UTF-8 without control characters.
func cleanID(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && len(s) <= 128 && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// inUse is the oracle's list of currencies in use: legal tender somewhere
// today according to golang.org/x/text/currency.
var inUse = func() map[string]bool {
	m := map[string]bool{}
	for it := currency.Query(); it.Next(); {
		m[it.Unit().String()] = true
	}
	return m
}()

// Currencies whose codes start with X but are money (CFA francs, East
// Caribbean dollar, CFP franc) are accepted; so is a free line (the valid
// input's "Cup" costs 0) and an order that costs nothing at all.
func TestValidateOrderInputAccepts(t *testing.T) {
	for _, cur := range []string{"XOF", "XAF", "XCD", "XPF", "JPY", "CHF"} {
		in := validInput()
		in.Currency = cur
		if _, errs := ValidateOrderInput(in); len(errs) != 0 {
			t.Errorf("currency %s: %+v", cur, errs[0])
		}
	}
	in := validInput()
	for i := range in.Items {
		in.Items[i].UnitPriceMinor = 0
	}
	if d, errs := ValidateOrderInput(in); len(errs) != 0 || d.TotalMinor != 0 {
		t.Errorf("all-free order: %+v, total %d", errs, d.TotalMinor)
	}
}
