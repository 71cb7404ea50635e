package notifier

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/events"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleOrder() events.OrderCreated {
	return events.OrderCreated{
		OrderID: "ord_01HX7",
		UserID:  "usr_42",
		Items: []events.OrderItem{
			{SKU: "MUG-1", Name: "Mug <Herald> & Co", Quantity: 2, UnitPriceMinor: 1250},
			{SKU: "TEE-9", Name: "T-shirt", Quantity: 1, UnitPriceMinor: 199999},
		},
		TotalMinor: 202499,
		Currency:   "EUR",
		CreatedAt:  time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
	}
}

func TestRenderOrderConfirmationGolden(t *testing.T) {
	msg, err := RenderOrderConfirmation(sampleOrder(), "Ada Lovelace")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Order ord_01HX7 confirmed"; msg.Subject != want {
		t.Errorf("subject = %q, want %q", msg.Subject, want)
	}
	for _, tc := range []struct{ file, got string }{
		{"order_confirmation.txt.golden", msg.Text},
		{"order_confirmation.html.golden", msg.HTML},
	} {
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, []byte(tc.got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run Golden -update to create it)", err)
		}
		if tc.got != string(want) {
			t.Errorf("%s differs from the rendering:\n--- got ---\n%s\n--- want ---\n%s", path, tc.got, want)
		}
	}
	// The HTML body must escape values taken from the event.
	if strings.Contains(msg.HTML, "<Herald>") || !strings.Contains(msg.HTML, "Mug &lt;Herald&gt; &amp; Co") {
		t.Errorf("html body does not escape item names:\n%s", msg.HTML)
	}
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		minor int64
		cur   string
		want  string
	}{
		{0, "EUR", "EUR 0.00"},
		{5, "EUR", "EUR 0.05"},
		{123450, "EUR", "EUR 1,234.50"},
		{199999, "usd", "USD 1,999.99"},
		{500, "JPY", "JPY 500"},
		{1234567, "JPY", "JPY 1,234,567"},
		{12345, "BHD", "BHD 12.345"},
		{-250, "EUR", "EUR -2.50"},
		{999999999999999, "EUR", "EUR 9,999,999,999,999.99"},
		{1 << 60, "EUR", "EUR 11529215046068469.76"},
		{1999, "XYZ", "XYZ 19.99"},
	}
	for _, tc := range tests {
		if got := FormatMoney(tc.minor, tc.cur); got != tc.want {
			t.Errorf("FormatMoney(%d, %q) = %q, want %q", tc.minor, tc.cur, got, tc.want)
		}
	}
}
