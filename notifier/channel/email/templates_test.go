package email

import (
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/events/eventstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleOrder() events.OrderCreated { return eventstest.Order() }

// golden compares got with testdata/<name>; -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func sampleCancellation() events.OrderCancelled {
	o := sampleOrder()
	return events.OrderCancelled{
		OrderID: o.OrderID, UserID: o.UserID, TotalMinor: o.TotalMinor, Currency: o.Currency,
		Reason:      "Ordered <twice> & too soon",
		CreatedAt:   o.CreatedAt,
		CancelledAt: o.CreatedAt.Add(time.Hour),
	}
}

// Each template in each locale, rendered with and without a name (and, for
// the cancellation, without a reason), must match its golden files byte for
// byte; values from the event are escaped in HTML.
func TestTemplatesGolden(t *testing.T) {
	const confirm, cancel = TemplateOrderConfirmation, TemplateOrderCancellation
	tests := []struct {
		template string
		locale   string
		name     string
		noReason bool // cancellation: the customer gave none
		dir      string
		subject  string
		greet    string
	}{
		{confirm, "en", "Ada Lovelace", false, "en", "Order ord_01HX7 confirmed", "Hello Ada Lovelace,"},
		{confirm, "de", "Ada Lovelace", false, "de", "Bestellung ord_01HX7 bestätigt", "Hallo Ada Lovelace,"},
		{confirm, "fr", "Ada Lovelace", false, "fr", "Commande ord_01HX7 confirmée", "Bonjour Ada Lovelace,"},
		{confirm, "de", "", false, "de-noname", "Bestellung ord_01HX7 bestätigt", "Guten Tag,"},
		{confirm, "en", "", false, "en-noname", "Order ord_01HX7 confirmed", "Hello,"},
		{cancel, "en", "Ada Lovelace", false, "en", "Order ord_01HX7 cancelled", "Hello Ada Lovelace,"},
		{cancel, "de", "Ada Lovelace", false, "de", "Bestellung ord_01HX7 storniert", "Hallo Ada Lovelace,"},
		{cancel, "fr", "Ada Lovelace", false, "fr", "Commande ord_01HX7 annulée", "Bonjour Ada Lovelace,"},
		{cancel, "de", "", true, "de-noname", "Bestellung ord_01HX7 storniert", "Guten Tag,"},
		{cancel, "en", "", true, "en-noname", "Order ord_01HX7 cancelled", "Hello,"},
	}
	for _, tc := range tests {
		t.Run(tc.template+"/"+tc.dir, func(t *testing.T) {
			var (
				c   Content
				err error
			)
			if tc.template == confirm {
				c, err = RenderOrderConfirmation(tc.locale, sampleOrder(), tc.name)
			} else {
				ev := sampleCancellation()
				if tc.noReason {
					ev.Reason = ""
				}
				c, err = RenderOrderCancellation(tc.locale, ev, tc.name)
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != tc.subject || c.Locale != tc.locale {
				t.Errorf("subject %q (locale %q), want %q (%q)", c.Subject, c.Locale, tc.subject, tc.locale)
			}
			if !strings.HasPrefix(c.Text, tc.greet) {
				t.Errorf("text starts %q, want %q", firstLine(c.Text), tc.greet)
			}
			golden(t, tc.dir+"/"+tc.template+".subject.golden", c.Subject+"\n")
			golden(t, tc.dir+"/"+tc.template+".txt.golden", c.Text)
			golden(t, tc.dir+"/"+tc.template+".html.golden", c.HTML)
			if !strings.Contains(c.HTML, `<html lang="`+tc.locale+`">`) {
				t.Errorf("html body does not declare lang=%q", tc.locale)
			}
			if tc.template == confirm {
				if strings.Contains(c.HTML, "<Herald>") || !strings.Contains(c.HTML, "Mug &lt;Herald&gt; &amp; Co") {
					t.Errorf("html body does not escape item names:\n%s", c.HTML)
				}
				return
			}
			// The reason is the customer's text: escaped in HTML, and left
			// out with its label when none was given.
			if tc.noReason == strings.Contains(c.Text, "twice") || strings.Contains(c.HTML, "<twice>") ||
				!tc.noReason && !strings.Contains(c.HTML, "Ordered &lt;twice&gt; &amp; too soon") {
				t.Errorf("reason (given: %v) rendered wrongly:\n%s\n%s", !tc.noReason, c.Text, c.HTML)
			}
		})
	}
}

// The channel renders a message stored without a body from its payload,
// by event type: each known type gets its own template.
func TestRenderPayload(t *testing.T) {
	created, _ := json.Marshal(sampleOrder())
	cancelled, _ := json.Marshal(sampleCancellation())
	for _, tc := range []struct {
		typ     string
		payload []byte
		subject string
	}{
		{events.TypeOrderCreated, created, "Order ord_01HX7 confirmed"},
		{events.TypeOrderCancelled, cancelled, "Order ord_01HX7 cancelled"},
	} {
		c, err := renderPayload(tc.typ, "en", tc.payload)
		if err != nil || c.Subject != tc.subject {
			t.Errorf("renderPayload(%s) = %q, %v; want %q", tc.typ, c.Subject, err, tc.subject)
		}
	}
	if _, err := renderPayload("io.example.other.v1", "en", created); err == nil {
		t.Error("renderPayload of an unknown event type succeeded")
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Every language must have every template English has, with all three
// parts: a missing German file would silently fall back to English.
func TestTemplatesComplete(t *testing.T) {
	names := func(lang string) []string {
		m, err := fs.Glob(templateFS, "templates/"+lang+"/*.tmpl")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range m {
			out = append(out, filepath.Base(p))
		}
		sort.Strings(out)
		return out
	}
	want := names("en")
	if len(want) == 0 || len(want)%3 != 0 {
		t.Fatalf("english templates %v: want subject, txt and html for each", want)
	}
	for _, tag := range Locales {
		got := names(baseOf(tag))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s templates %v, want %v", tag, got, want)
		}
	}
}

func TestMatchLocale(t *testing.T) {
	tests := []struct{ in, want string }{
		{"en", "en"},
		{"de", "de"},
		{"fr", "fr"},
		{"de-AT", "de"},
		{"de-CH", "de"},
		{"fr-CA", "fr"},
		{"en-GB", "en"},
		{"es", "en"},
		{"es-MX", "en"},
		{"ja", "en"},
		{"", "en"},
		{"not a locale!", "en"},
		{"es, de;q=0.8, en;q=0.5", "de"},
		{"pt-BR,fr;q=0.9", "fr"},
	}
	for _, tc := range tests {
		if got := baseOf(MatchLocale(tc.in)); got != tc.want {
			t.Errorf("MatchLocale(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	en, de := message.NewPrinter(language.English), message.NewPrinter(language.German)
	tests := []struct {
		p     *message.Printer
		minor int64
		cur   string
		want  string
	}{
		{en, 0, "EUR", "EUR 0.00"},
		{en, 123450, "EUR", "EUR 1,234.50"},
		{de, 123450, "EUR", "EUR 1.234,50"},
		{en, 500, "JPY", "JPY 500"},
		{en, 12345, "BHD", "BHD 12.345"},
		{en, -250, "eur", "EUR -2.50"},
		{en, 1 << 60, "EUR", "EUR 11529215046068469.76"},
		{de, 1999, "XYZ", "XYZ 19.99"},
	}
	for _, tc := range tests {
		if got := FormatMoney(tc.p, tc.minor, tc.cur); got != tc.want {
			t.Errorf("FormatMoney(%d, %q) = %q, want %q", tc.minor, tc.cur, got, tc.want)
		}
	}
}
