package notifier

import "testing"

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
