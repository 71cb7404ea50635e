package email

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"math"
	"path"
	"strings"
	texttemplate "text/template"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/events"
)

// Templates live in templates/<language>/<name>.{subject,txt,html}.tmpl and
// are compiled into the binary. Adding a language = adding a folder and its
// tag to Locales.
//
//go:embed templates
var templateFS embed.FS

// Locales are the languages with templates. The first is the fallback for
// users whose language has none.
var Locales = []language.Tag{language.English, language.German, language.French}

var matcher = language.NewMatcher(Locales)

// Template names.
const (
	TemplateOrderConfirmation = "order_confirmation"
	TemplateOrderCancellation = "order_cancellation"
)

// templateNames are the templates every language in Locales must have.
var templateNames = []string{TemplateOrderConfirmation, TemplateOrderCancellation}

// set is one template (subject, text and HTML body) in one language.
type set struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// templates maps "<lang>/<name>" to its set. Parsed once at start: a broken
// template fails the tests and the process start, never one notification.
var templates = mustLoad()

func mustLoad() map[string]set {
	out := map[string]set{}
	entries, err := fs.Glob(templateFS, "templates/*/*.subject.tmpl")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		dir, file := path.Split(e)
		lang := path.Base(dir)
		name := strings.TrimSuffix(file, ".subject.tmpl")
		base := "templates/" + lang + "/" + name
		out[lang+"/"+name] = set{
			subject: texttemplate.Must(texttemplate.ParseFS(templateFS, base+".subject.tmpl")),
			text:    texttemplate.Must(texttemplate.ParseFS(templateFS, base+".txt.tmpl")),
			html:    htmltemplate.Must(htmltemplate.ParseFS(templateFS, base+".html.tmpl")),
		}
	}
	for _, t := range Locales {
		for _, name := range templateNames {
			if _, ok := out[baseOf(t)+"/"+name]; !ok {
				panic("email: no " + name + " template for " + t.String())
			}
		}
	}
	return out
}

func baseOf(t language.Tag) string {
	b, _ := t.Base()
	return b.String()
}

// MatchLocale picks the template language for a user's locale: the exact
// language, else its base language (de-AT → de), else English. locale may
// be a single BCP 47 tag or an Accept-Language style list.
func MatchLocale(locale string) language.Tag {
	tags, _, err := language.ParseAcceptLanguage(locale)
	if err != nil || len(tags) == 0 {
		return Locales[0]
	}
	_, i, _ := matcher.Match(tags...)
	return Locales[i]
}

// Content is a rendered email.
type Content struct {
	Locale  string // language of the templates used (e.g. "de")
	Subject string
	Text    string
	HTML    string
}

// Render executes template name for locale with data. A language missing
// this particular template falls back to English.
func Render(name, locale string, data any) (Content, error) {
	lang := baseOf(MatchLocale(locale))
	s, ok := templates[lang+"/"+name]
	if !ok {
		lang = baseOf(Locales[0])
		if s, ok = templates[lang+"/"+name]; !ok {
			return Content{}, fmt.Errorf("email: no template %q", name)
		}
	}
	var subj, text, html bytes.Buffer
	if err := s.subject.Execute(&subj, data); err != nil {
		return Content{}, fmt.Errorf("email: render %s subject: %w", name, err)
	}
	if err := s.text.Execute(&text, data); err != nil {
		return Content{}, fmt.Errorf("email: render %s text: %w", name, err)
	}
	if err := s.html.Execute(&html, data); err != nil {
		return Content{}, fmt.Errorf("email: render %s html: %w", name, err)
	}
	// A subject is one line: template files end in a newline.
	subject := strings.Join(strings.Fields(subj.String()), " ")
	return Content{Locale: lang, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// OrderView is what the order confirmation templates see: every amount is
// already formatted for the locale, so templates hold no money logic.
type OrderView struct {
	Name    string // recipient's name; templates greet without it when empty
	OrderID string
	Items   []ItemView
	Total   string
}

// ItemView is one order line.
type ItemView struct {
	Name      string
	Quantity  int
	UnitPrice string
	LineTotal string
}

// RenderOrderConfirmation renders the order confirmation for one recipient
// in their locale. The HTML body escapes every value taken from the event.
func RenderOrderConfirmation(locale string, order events.OrderCreated, name string) (Content, error) {
	tag := MatchLocale(locale)
	p := message.NewPrinter(tag)
	v := OrderView{Name: name, OrderID: order.OrderID, Total: FormatMoney(p, order.TotalMinor, order.Currency)}
	for _, it := range order.Items {
		v.Items = append(v.Items, ItemView{
			Name:      it.Name,
			Quantity:  it.Quantity,
			UnitPrice: FormatMoney(p, it.UnitPriceMinor, order.Currency),
			LineTotal: FormatMoney(p, it.UnitPriceMinor*int64(it.Quantity), order.Currency),
		})
	}
	return Render(TemplateOrderConfirmation, tag.String(), v)
}

// CancellationView is what the order cancellation templates see.
type CancellationView struct {
	Name    string // recipient's name; templates greet without it when empty
	OrderID string
	Total   string // the cancelled order's total, formatted for the locale
	Reason  string // as given to cancelOrder; empty when none was
}

// RenderOrderCancellation renders the cancellation notice of an order for
// one recipient in their locale. The HTML body escapes every value taken
// from the event (the reason is the customer's own text).
func RenderOrderCancellation(locale string, ev events.OrderCancelled, name string) (Content, error) {
	tag := MatchLocale(locale)
	v := CancellationView{Name: name, OrderID: ev.OrderID, Reason: ev.Reason,
		Total: FormatMoney(message.NewPrinter(tag), ev.TotalMinor, ev.Currency)}
	return Render(TemplateOrderCancellation, tag.String(), v)
}

// RenderEvent renders the email for event data of a known kind
// (events.OrderCreated or events.OrderCancelled) for one recipient.
func RenderEvent(locale string, data any, name string) (Content, error) {
	switch ev := data.(type) {
	case events.OrderCreated:
		return RenderOrderConfirmation(locale, ev, name)
	case events.OrderCancelled:
		return RenderOrderCancellation(locale, ev, name)
	}
	return Content{}, fmt.Errorf("email: no template for %T", data)
}

// renderPayload renders a message the worker sent without a body, from its
// event payload (OrderCreated or OrderCancelled).
func renderPayload(eventType, locale string, payload []byte) (Content, error) {
	data, err := events.DecodeData(eventType, payload)
	if err != nil {
		return Content{}, fmt.Errorf("email: no body given: %w", err)
	}
	return RenderEvent(locale, data, "")
}

// FormatMoney renders an amount in integer minor units of an ISO 4217
// currency with the printer's locale: (202499, "EUR") is "EUR 2,024.99" in
// English and "EUR 2.024,99" in German. golang.org/x/text/currency supplies
// the decimals (CLDR). An unknown code is printed as given with two
// decimals; amounts beyond 2^53 minor units (where a float64 could change a
// cent) are printed as exact digits without grouping.
func FormatMoney(p *message.Printer, minor int64, code string) string {
	code = strings.ToUpper(code)
	unit, err := currency.ParseISO(code)
	if err != nil {
		return code + " " + decimalString(minor, 2)
	}
	scale, _ := currency.Standard.Rounding(unit)
	if minor > 1<<53 || minor < -(1<<53) {
		return code + " " + decimalString(minor, scale)
	}
	return p.Sprint(currency.ISO(unit.Amount(float64(minor) / math.Pow10(scale))))
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
