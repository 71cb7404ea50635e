package notifier

import (
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/notifier/channel/email"
)

// printer formats amounts for the SMS text made at consume time (emails are
// formatted per locale by the email channel's templates).
var printer = message.NewPrinter(language.English)

// FormatMoney renders an amount given in integer minor units of an ISO 4217
// currency in English, e.g. (123450, "EUR") → "EUR 1,234.50", (500, "JPY")
// → "JPY 500"; the rules are the email channel's (email.FormatMoney).
func FormatMoney(minor int64, code string) string {
	return email.FormatMoney(printer, minor, code)
}
