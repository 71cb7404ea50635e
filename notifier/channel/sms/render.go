package sms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/notifier/channel/email"
)

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
	return RenderOrderCreated(locale, o)
}

// RenderOrderCreated is the SMS text of an order confirmation in locale
// (BCP 47; matched like the email channel's: the exact language, else its
// base language, else English). The notifier renders it at consume time,
// so the delivery row holds exactly what is sent.
func RenderOrderCreated(locale string, o events.OrderCreated) (string, error) {
	tag := email.MatchLocale(locale)
	base, _ := tag.Base()
	tmpl, ok := smsTemplates[base.String()]
	if !ok { // a language with email templates but no SMS text yet
		tag, tmpl = language.English, smsTemplates["en"]
	}
	var b bytes.Buffer
	err := tmpl.Execute(&b, struct{ OrderID, Total string }{o.OrderID, formatMoney(tag, o.TotalMinor, o.Currency)})
	if err != nil {
		return "", fmt.Errorf("sms: render: %w", err)
	}
	return b.String(), nil
}

func formatMoney(tag language.Tag, minor int64, code string) string {
	// French groups digits with a no-break space, which is outside GSM-7
	// and would turn the whole SMS into UCS-2 (less than half the room).
	return gsmSpaces.Replace(email.FormatMoney(message.NewPrinter(tag), minor, code))
}

var gsmSpaces = strings.NewReplacer("\u00a0", " ", "\u202f", " ")
