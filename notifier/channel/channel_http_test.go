package channel_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifier/channel"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"empty", "", 0},
		{"blank", "   ", 0},
		{"zero seconds", "0", 0},
		{"delta seconds", "30", 30 * time.Second},
		{"delta seconds with spaces", " 120 ", 2 * time.Minute},
		{"leading zeros", "007", 7 * time.Second},
		{"just under the cap", "86399", 86399 * time.Second},
		{"at the cap", "86400", channel.MaxRetryAfter},
		{"above the cap", "86401", channel.MaxRetryAfter},
		{"huge: would overflow a Duration", "9999999999999", channel.MaxRetryAfter},
		{"huge: beyond uint64", "99999999999999999999999999", channel.MaxRetryAfter},
		{"negative", "-5", 0},
		{"explicit plus sign (not delay-seconds)", "+5", 0},
		{"fraction", "1.5", 0},
		{"unit suffix", "30s", 0},
		{"garbage", "soon", 0},
		{"http-date in the future", date(90 * time.Second), 90 * time.Second},
		{"http-date now", date(0), 0},
		{"http-date in the past", date(-time.Hour), 0},
		{"http-date beyond the cap", date(30 * 24 * time.Hour), channel.MaxRetryAfter},
		{"rfc 850 date", now.Add(time.Minute).Format("Monday, 02-Jan-06 15:04:05 GMT"), time.Minute},
		{"asctime date", now.Add(time.Minute).Format(time.ANSIC), time.Minute},
		{"date without zone", now.Add(time.Minute).Format("2006-01-02T15:04:05"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := channel.ParseRetryAfter(tc.value, now); got != tc.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}

// No input makes it negative or longer than the cap.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "30", "-1", "9999999999999", "Sun, 06 Nov 1994 08:49:37 GMT", "x"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if got := channel.ParseRetryAfter(v, now); got < 0 || got > channel.MaxRetryAfter {
			t.Errorf("ParseRetryAfter(%q) = %v, outside [0, %v]", v, got, channel.MaxRetryAfter)
		}
	})
}
