package sms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"text/template"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/events"
)

// smsLocales lists the languages with SMS texts; the first is the fallback.
var smsLocales = []language.Tag{language.English, language.German, language.French}

var smsMatcher = language.NewMatcher(smsLocales)

// Short texts kept GSM-7 friendly (no characters outside the GSM alphabet
// where the language allows it) so they fit one segment.
var smsTemplates = map[string]*template.Template{
	"en": template.Must(template.New("en").Parse(`Herald: your order {{.OrderID}} is confirmed. Total {{.Total}}.`)),
	"de": template.Must(template.New("de").Parse(`Herald: Ihre Bestellung {{.OrderID}} ist bestätigt. Summe {{.Total}}.`)),
	"fr": template.Must(template.New("fr").Parse(`Herald : votre commande {{.OrderID}} est confirmée. Total {{.Total}}.`)),
}

// Render makes the SMS text for an event when the worker did not supply
// one, in the user's locale (falling back to its base language, then
// English). Only OrderCreated is known.
func Render(eventType, locale string, payload []byte) (string, error) {
	if eventType != events.TypeOrderCreated {
		return "", fmt.Errorf("sms: no text given and no SMS template for event type %q", eventType)
	}
	var o events.OrderCreated
	if err := json.Unmarshal(payload, &o); err != nil {
		return "", fmt.Errorf("sms: order payload: %w", err)
	}
	tag := matchLocale(locale)
	base, _ := tag.Base()
	var b bytes.Buffer
	err := smsTemplates[base.String()].Execute(&b, struct{ OrderID, Total string }{o.OrderID, formatMoney(tag, o.TotalMinor, o.Currency)})
	if err != nil {
		return "", fmt.Errorf("sms: render: %w", err)
	}
	return b.String(), nil
}

func matchLocale(locale string) language.Tag {
	tags, _, err := language.ParseAcceptLanguage(locale)
	if err != nil || len(tags) == 0 {
		return smsLocales[0]
	}
	_, i, _ := smsMatcher.Match(tags...)
	return smsLocales[i]
}

func formatMoney(tag language.Tag, minor int64, code string) string {
	code = strings.ToUpper(code)
	unit, err := currency.ParseISO(code)
	if err != nil || minor > 1<<53 || minor < -(1<<53) {
		return fmt.Sprintf("%s %d.%02d", code, minor/100, abs(minor%100))
	}
	scale, _ := currency.Standard.Rounding(unit)
	s := message.NewPrinter(tag).Sprint(currency.ISO(unit.Amount(float64(minor) / math.Pow10(scale))))
	// French groups digits with a no-break space, which is outside GSM-7
	// and would turn the whole SMS into UCS-2 (less than half the room).
	return gsmSpaces.Replace(s)
}

var gsmSpaces = strings.NewReplacer("\u00a0", " ", "\u202f", " ")

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
