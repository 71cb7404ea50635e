package notifier

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"

	"github.com/heraldhq/herald/internal/events"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Templates are parsed once at start; a broken template fails the build's
// tests and the service's start, never a single notification.
var (
	orderText = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/order_confirmation.txt.tmpl"))
	orderHTML = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/order_confirmation.html.tmpl"))
)

// Email is a rendered message, ready to store on a delivery row.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// orderView is what the order confirmation templates see: every amount is
// already formatted, so templates hold no money logic.
type orderView struct {
	Name    string
	OrderID string
	Items   []itemView
	Total   string
}

type itemView struct {
	Name      string
	Quantity  int
	UnitPrice string
	LineTotal string
}

// RenderOrderConfirmation renders the order confirmation for one recipient.
// The HTML template escapes every value taken from the event.
func RenderOrderConfirmation(order events.OrderCreated, name string) (Email, error) {
	v := orderView{Name: name, OrderID: order.OrderID, Total: FormatMoney(order.TotalMinor, order.Currency)}
	if v.Name == "" {
		v.Name = "there"
	}
	for _, it := range order.Items {
		v.Items = append(v.Items, itemView{
			Name:      it.Name,
			Quantity:  it.Quantity,
			UnitPrice: FormatMoney(it.UnitPriceMinor, order.Currency),
			LineTotal: FormatMoney(it.UnitPriceMinor*int64(it.Quantity), order.Currency),
		})
	}
	var text, html bytes.Buffer
	if err := orderText.Execute(&text, v); err != nil {
		return Email{}, fmt.Errorf("render text body: %w", err)
	}
	if err := orderHTML.Execute(&html, v); err != nil {
		return Email{}, fmt.Errorf("render html body: %w", err)
	}
	return Email{Subject: "Order " + order.OrderID + " confirmed", Text: text.String(), HTML: html.String()}, nil
}
