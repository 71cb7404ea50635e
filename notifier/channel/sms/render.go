package sms

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/notifier/channel/email"
)

// Short texts kept GSM-7 friendly (no characters outside the GSM alphabet
// where the language allows it) so they fit one segment. One map per
// template, keyed by language.
var (
	confirmationTexts = map[string]*template.Template{
		"en": template.Must(template.New("en").Parse(`Herald: your order {{.OrderID}} is confirmed. Total {{.Total}}.`)),
		"de": template.Must(template.New("de").Parse(`Herald: Ihre Bestellung {{.OrderID}} ist bestätigt. Summe {{.Total}}.`)),
		"fr": template.Must(template.New("fr").Parse(`Herald : votre commande {{.OrderID}} est confirmée. Total {{.Total}}.`)),
	}
	cancellationTexts = map[string]*template.Template{
		"en": template.Must(template.New("en").Parse(`Herald: your order {{.OrderID}} ({{.Total}}) has been cancelled.`)),
		"de": template.Must(template.New("de").Parse(`Herald: Ihre Bestellung {{.OrderID}} ({{.Total}}) wurde storniert.`)),
		"fr": template.Must(template.New("fr").Parse(`Herald : votre commande {{.OrderID}} ({{.Total}}) a été annulée.`)),
	}
)

// Render makes the SMS text for an event when the worker did not supply
// one, in the user's locale (falling back to its base language, then
// English). OrderCreated and OrderCancelled are known.
func Render(eventType, locale string, payload []byte) (string, error) {
	data, err := events.DecodeData(eventType, payload)
	if err != nil {
		return "", fmt.Errorf("sms: no text given: %w", err)
	}
	return RenderEvent(locale, data)
}

// RenderEvent is the SMS text for event data of a known kind
// (events.OrderCreated or events.OrderCancelled) in locale (BCP 47; matched
// like the email channel's: the exact language, else its base language,
// else English). The notifier renders it at consume time, so the delivery
// row holds exactly what is sent.
func RenderEvent(locale string, data any) (string, error) {
	switch ev := data.(type) {
	case events.OrderCreated:
		return render(confirmationTexts, locale, ev.OrderID, ev.TotalMinor, ev.Currency)
	case events.OrderCancelled:
		return render(cancellationTexts, locale, ev.OrderID, ev.TotalMinor, ev.Currency)
	}
	return "", fmt.Errorf("sms: no text for %T", data)
}

func render(texts map[string]*template.Template, locale, orderID string, totalMinor int64, currency string) (string, error) {
	tag := email.MatchLocale(locale)
	base, _ := tag.Base()
	tmpl, ok := texts[base.String()]
	if !ok { // a language with email templates but no SMS text yet
		tag, tmpl = language.English, texts["en"]
	}
	var b bytes.Buffer
	err := tmpl.Execute(&b, struct{ OrderID, Total string }{orderID, formatMoney(tag, totalMinor, currency)})
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
