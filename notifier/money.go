package notifier

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer formats amounts for the SMS text made at consume time (emails are
// formatted per locale by the email channel's templates).
var printer = message.NewPrinter(language.English)

// FormatMoney renders an amount given in integer minor units of an ISO 4217
// currency, e.g. (123450, "EUR") → "EUR 1,234.50", (500, "JPY") → "JPY 500".
// golang.org/x/text/currency supplies the number of decimals (CLDR) and the
// locale grouping. An unknown code is printed as given with two decimals
// rather than failing the notification.
func FormatMoney(minor int64, code string) string {
	code = strings.ToUpper(code)
	unit, err := currency.ParseISO(code)
	if err != nil {
		return code + " " + decimalString(minor, 2)
	}
	scale, _ := currency.Standard.Rounding(unit)
	// x/text takes no exact decimal type, only ints and floats. Below 2^53 the
	// float nearest to minor/10^scale rounds back to exactly minor at that
	// scale, so no cent can change; beyond that use plain exact digits.
	if minor > 1<<53 || minor < -(1<<53) {
		return code + " " + decimalString(minor, scale)
	}
	amount := float64(minor) / math.Pow10(scale)
	return printer.Sprint(currency.ISO(unit.Amount(amount)))
}

// decimalString is the exact value of minor/10^scale without grouping.
func decimalString(minor int64, scale int) string {
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	s := fmt.Sprintf("%0*d", scale+1, u)
	if scale > 0 {
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
