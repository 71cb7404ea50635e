package orders

import (
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/textsafe"
	"github.com/heraldhq/herald/subgraphs/orders/model"
)

// Limits that keep one request from being unreasonable. Money limits follow
// from the contract: totalMinor is a GraphQL Int (32-bit signed).
const (
	maxItems      = 500
	maxIDLen      = 128
	maxSKULen     = 64
	maxNameLen    = 200
	maxGraphQLInt = math.MaxInt32
)

// Draft is a validated order, ready to be stored.
type Draft struct {
	UserID     string
	Currency   string
	Items      []events.OrderItem
	TotalMinor int64
	// IdempotencyKey is empty when the client sent none.
	IdempotencyKey string
}

// ValidateOrderInput checks a createOrder input and reports every problem,
// each as a BAD_USER_INPUT *apperr.Error naming its field
// ("input.items[0].quantity"). The draft is meaningful only without problems.
func ValidateOrderInput(in model.CreateOrderInput) (Draft, []*apperr.Error) {
	var (
		d    Draft
		errs []*apperr.Error
	)
	bad := func(field, format string, args ...any) {
		errs = append(errs, apperr.Invalid(field, format, args...))
	}

	d.UserID = strings.TrimSpace(in.UserID)
	switch {
	case d.UserID == "":
		bad("input.userId", "userId must not be empty")
	case len(d.UserID) > maxIDLen || !printable(d.UserID):
		bad("input.userId", "userId is not a valid id")
	}

	d.Currency = in.Currency
	switch {
	case nonCurrency[in.Currency] != "":
		bad("input.currency", "currency %s is an ISO 4217 code for %s, not a currency an order can be paid in", in.Currency, nonCurrency[in.Currency])
	case !isISOCurrency(in.Currency):
		bad("input.currency", "currency must be an upper-case ISO 4217 code of a currency in use, such as USD")
	}

	switch {
	case len(in.Items) == 0:
		bad("input.items", "an order needs at least one item")
	case len(in.Items) > maxItems:
		bad("input.items", "an order has at most %d items", maxItems)
	}
	totalOK := true
	for i, it := range in.Items {
		f := func(name string) string { return fmt.Sprintf("input.items[%d].%s", i, name) }
		sku, name := strings.TrimSpace(it.Sku), strings.TrimSpace(it.Name)
		switch {
		case sku == "":
			bad(f("sku"), "sku must not be empty")
		case len(sku) > maxSKULen || !printable(sku):
			bad(f("sku"), "sku must be at most %d printable characters", maxSKULen)
		}
		switch {
		case name == "":
			bad(f("name"), "name must not be empty")
		case utf8.RuneCountInString(name) > maxNameLen || !printable(name):
			bad(f("name"), "name must be at most %d printable characters", maxNameLen)
		case textsafe.Problem(name) != "":
			bad(f("name"), "name must not contain %s", textsafe.Problem(name))
		}
		qtyOK, priceOK := true, true
		switch {
		case it.Quantity <= 0:
			bad(f("quantity"), "quantity must be greater than 0")
			qtyOK = false
		case it.Quantity > maxGraphQLInt:
			bad(f("quantity"), "quantity is too large")
			qtyOK = false
		}
		switch {
		case it.UnitPriceMinor < 0:
			bad(f("unitPriceMinor"), "unitPriceMinor must not be negative")
			priceOK = false
		case it.UnitPriceMinor > maxGraphQLInt:
			bad(f("unitPriceMinor"), "unitPriceMinor is too large")
			priceOK = false
		}
		if !qtyOK || !priceOK {
			totalOK = false
			continue
		}
		// Both factors are below 2^31, so the product fits in int64, and so
		// does a running total that is checked against 2^31 at each step.
		if totalOK {
			d.TotalMinor += int64(it.Quantity) * int64(it.UnitPriceMinor)
			if d.TotalMinor > maxGraphQLInt {
				bad("input.items", "the order total exceeds %d minor units", maxGraphQLInt)
				totalOK = false
			}
		}
		d.Items = append(d.Items, events.OrderItem{
			SKU: sku, Name: name, Quantity: it.Quantity, UnitPriceMinor: int64(it.UnitPriceMinor),
		})
	}
	if in.IdempotencyKey != nil {
		d.IdempotencyKey = *in.IdempotencyKey
		if !validIdempotencyKey(d.IdempotencyKey) {
			bad("input.idempotencyKey", "idempotencyKey must be 1 to %d printable ASCII characters without spaces", maxIdempotencyKeyLen)
		}
	}
	return d, errs
}

// nonCurrency are ISO 4217 codes that name no money an order is paid in:
// "no currency", the testing code, precious metals, the IMF's SDR and
// other units of account. golang.org/x/text/currency parses them all.
var nonCurrency = map[string]string{
	"XXX": "no currency", "XTS": "testing",
	"XAU": "gold", "XAG": "silver", "XPD": "palladium", "XPT": "platinum",
	"XDR": "a unit of account (IMF special drawing right)", "XSU": "a unit of account (SUCRE)",
	"XUA": "a unit of account (ADB)", "XBA": "a bond market unit", "XBB": "a bond market unit",
	"XBC": "a bond market unit", "XBD": "a bond market unit",
}

// tender is every currency legal tender somewhere today, as CLDR (through
// golang.org/x/text/currency) knows it: withdrawn codes such as DEM and
// the units above are not in it, the CFA francs (XAF, XOF), the East
// Caribbean dollar (XCD) and the CFP franc (XPF) are.
var tender = func() map[string]bool {
	m := map[string]bool{}
	for it := currency.Query(); it.Next(); {
		m[it.Unit().String()] = true
	}
	return m
}()

// isISOCurrency accepts exactly three upper-case letters that name an ISO
// 4217 currency in use. ParseISO alone would also accept lower case,
// withdrawn currencies and the units above.
func isISOCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return tender[s] && nonCurrency[s] == ""
}

// printable rejects invalid UTF-8 and control characters (NUL among them,
// which PostgreSQL text cannot store).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
