package users

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// wantInvalid fails unless err is BAD_USER_INPUT on field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code != apperr.BadUserInput || ae.Field != field {
		t.Fatalf("error %v, want BAD_USER_INPUT on %s", err, field)
	}
}

func TestNormalizeWebhookURL(t *testing.T) {
	const f = "input.webhook.url"
	tests := []struct {
		in       string
		loopback bool
		want     string // "" with ok: no webhook
		ok       bool
	}{
		{"https://Hooks.Example.COM/Path?Q=1", false, "https://hooks.example.com/Path?Q=1", true},
		{"  https://example.com:8443/h  ", false, "https://example.com:8443/h", true},
		{"HTTPS://example.com", false, "https://example.com", true},
		{"", false, "", true},
		{"http://example.com/h", false, "", false},
		{"http://example.com/h", true, "", false}, // the dev flag is for loopback only
		{"http://localhost:8080/h", false, "", false},
		{"http://localhost:8080/h", true, "http://localhost:8080/h", true},
		{"http://127.0.0.1:9/h", true, "http://127.0.0.1:9/h", true},
		{"http://[::1]:9/h", true, "http://[::1]:9/h", true},
		{"https://127.0.0.1/h", false, "", false},
		{"https://192.168.1.1/h", true, "", false},
		{"https://169.254.169.254/latest/meta-data", false, "", false},
		{"https://[fe80::1%25eth0]/h", false, "", false},
		{"https://0.0.0.0/h", false, "", false},
		{"https://100.64.0.1/h", false, "", false},
		{"https://198.18.0.1/h", false, "", false},
		{"https://192.0.0.1/h", false, "", false},
		{"https://255.255.255.255/h", false, "", false},
		{"https://127.1/h", false, "", false},
		{"https://2130706433/h", false, "", false},
		{"https://0x7f.0.0.1/h", false, "", false},
		{"https://0177.0.0.1/h", false, "", false},
		{"https://[::ffff:127.0.0.1]/h", false, "", false},
		{"https://[::ffff:10.0.0.1]/h", true, "", false},
		{"https://[64:ff9b::a9fe:a9fe]/h", false, "", false},
		{"https://10.1/h", true, "", false},
		{"https://1.2.3.4.5/h", false, "", false},
		{"https://8.8.8.8/h", false, "https://8.8.8.8/h", true},
		{"https://user:pw@example.com/h", false, "", false},
		{"https://example.com/h#frag", false, "", false},
		{"ftp://example.com/h", false, "", false},
		{"example.com/h", false, "", false},
		{"https:///h", false, "", false},
		{"https://example.com:99999/h", false, "", false},
		{"https://example.com:0/h", false, "", false},
		{"https://exa mple.com/h", false, "", false},
		{"https://example.com/\x7f", false, "", false},
		{"https://example.com/" + strings.Repeat("a", MaxWebhookURL), false, "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeWebhookURL(tt.in, f, tt.loopback)
		if !tt.ok {
			if err == nil {
				t.Errorf("NormalizeWebhookURL(%q, %v) = %q, want a refusal", tt.in, tt.loopback, got)
				continue
			}
			wantInvalid(t, err, f)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeWebhookURL(%q, %v) = %q, %v; want %q", tt.in, tt.loopback, got, err, tt.want)
		}
	}
}

func TestNormalizeLocale(t *testing.T) {
	for in, want := range map[string]string{
		"en": "en", "EN-gb": "en-GB", " pt-br ": "pt-BR", "zh-hant-tw": "zh-Hant-TW", "de-CH-1996": "de-CH-1996",
	} {
		if got, err := NormalizeLocale(in, "l"); err != nil || got != want {
			t.Errorf("NormalizeLocale(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "und", "not a locale", "en_", "x", "123", strings.Repeat("a", 40)} {
		_, err := NormalizeLocale(in, "l")
		if err == nil {
			t.Errorf("NormalizeLocale(%q) accepted", in)
			continue
		}
		wantInvalid(t, err, "l")
	}
}

func TestValidateQuietHours(t *testing.T) {
	q, err := ValidateQuietHours(model.QuietHoursInput{Start: "22:00", End: "07:30", TimeZone: "Asia/Kolkata"}, "p.")
	if err != nil || q.StartMin != 22*60 || q.EndMin != 7*60+30 || q.TimeZone != "Asia/Kolkata" {
		t.Fatalf("got %+v, %v", q, err)
	}
	for _, tt := range []struct {
		in    model.QuietHoursInput
		field string
	}{
		{model.QuietHoursInput{Start: "24:00", End: "07:00", TimeZone: "UTC"}, "p.start"},
		{model.QuietHoursInput{Start: "22:00", End: "07:00:00", TimeZone: "UTC"}, "p.end"},
		{model.QuietHoursInput{Start: "22:00", End: "22:00", TimeZone: "UTC"}, "p.end"},
		{model.QuietHoursInput{Start: "22:00", End: "07:00", TimeZone: "utc/nowhere"}, "p.timeZone"},
		{model.QuietHoursInput{Start: "22:00", End: "07:00", TimeZone: "../../etc/passwd"}, "p.timeZone"},
		{model.QuietHoursInput{Start: "22:00", End: "07:00", TimeZone: ""}, "p.timeZone"},
	} {
		_, err := ValidateQuietHours(tt.in, "p.")
		wantInvalid(t, err, tt.field)
	}
}

func TestDeferUntil(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		start, end int
		loc        *time.Location
		at         time.Time
		want       *time.Time
	}{
		{"before a midnight-spanning window", 22 * 60, 7 * 60, ny, at(ny, "2026-01-15 21:59:59"), nil},
		{"at its start", 22 * 60, 7 * 60, ny, at(ny, "2026-01-15 22:00:00"), ptrTime(at(ny, "2026-01-16 07:00:00"))},
		{"after midnight", 22 * 60, 7 * 60, ny, at(ny, "2026-01-16 03:10:00"), ptrTime(at(ny, "2026-01-16 07:00:00"))},
		{"last second inside", 22 * 60, 7 * 60, ny, at(ny, "2026-01-16 06:59:59"), ptrTime(at(ny, "2026-01-16 07:00:00"))},
		{"at its end", 22 * 60, 7 * 60, ny, at(ny, "2026-01-16 07:00:00"), nil},
		{"daytime window", 12 * 60, 14 * 60, berlin, at(berlin, "2026-06-01 13:00:00"), ptrTime(at(berlin, "2026-06-01 14:00:00"))},
		{"outside a daytime window", 12 * 60, 14 * 60, berlin, at(berlin, "2026-06-01 11:00:00"), nil},
		// 8 March 2026: New York springs forward at 02:00; the window
		// still ends at 07:00 local, 11:00 UTC.
		{"spring forward", 22 * 60, 7 * 60, ny, at(ny, "2026-03-08 01:30:00"), ptrTime(time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC))},
		// An end inside the skipped hour is passed when the clock jumps
		// from 02:00 EST to 03:00 EDT (07:00 UTC).
		{"end in the skipped hour", 22 * 60, 2*60 + 30, ny, at(ny, "2026-03-08 01:45:00"), ptrTime(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quietWindow{start: tt.start, end: tt.end, loc: tt.loc}.deferUntil(tt.at)
			if (got == nil) != (tt.want == nil) || (got != nil && !got.Equal(*tt.want)) {
				t.Fatalf("deferUntil(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// The users service's box (internal/secretbox, tested there): values are
// bound to the user id, a value without a prefix is refused (every users
// row has one), errors name HERALD_USERS_SECRET_KEY, and rows sealed before
// the code moved to internal/secretbox still open.
func TestSecretBox(t *testing.T) {
	plain, _ := ParseSecretKey("")
	s, _ := plain.Seal("u1", "whsec_x")
	if s != "plain:whsec_x" {
		t.Fatalf("plain seal %q", s)
	}
	box, err := ParseSecretKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal("u1", "whsec_secret")
	if err != nil || !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, "whsec_secret") {
		t.Fatalf("sealed %q, %v", sealed, err)
	}
	if got, err := box.Open("u1", sealed); err != nil || got != "whsec_secret" {
		t.Fatalf("open %q, %v", got, err)
	}
	// Sealed by the users service before internal/secretbox existed.
	if got, err := box.Open("usr_1", "v1:8jFGzNq4VwGl1Ftl/7XV8qZViuix9gd+tqWgmOHlTzV25U/ElLah"); err != nil || got != "whsec_users" {
		t.Fatalf("open a stored row: %q, %v", got, err)
	}
	// Bound to the user: a sealed value copied to another row does not open.
	if _, err := box.Open("u2", sealed); err == nil || err.Error() != "webhook secret: cannot decrypt (wrong HERALD_USERS_SECRET_KEY?)" {
		t.Fatalf("another user's secret: %v", err)
	}
	if _, err := plain.Open("u1", sealed); err == nil || err.Error() != "webhook secret is encrypted but HERALD_USERS_SECRET_KEY is not set" {
		t.Fatalf("ciphertext without a key: %v", err)
	}
	if _, err := box.Open("u1", "whsec_bare"); err == nil || err.Error() != "webhook secret: unknown stored format" {
		t.Fatalf("a value without a prefix: %v", err)
	}
	if got, _ := box.Open("u1", s); got != "whsec_x" {
		t.Fatal("a key must still read secrets stored before it was configured")
	}
	if _, err := ParseSecretKey("short"); err == nil {
		t.Error("ParseSecretKey accepted a short key")
	}
}

// FuzzNormalizeWebhookURL: never panics; refusals name the field; what is
// accepted is an https (or, with the flag, loopback http) URL without
// credentials, that parses back to itself.
func FuzzNormalizeWebhookURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string, allowLoopback bool) {
		got, err := NormalizeWebhookURL(in, "w", allowLoopback)
		if err != nil {
			wantInvalid(t, err, "w")
			return
		}
		if got == "" {
			if strings.TrimSpace(in) != "" {
				t.Fatalf("%q accepted as no webhook", in)
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || u.User != nil || u.Host == "" || len(got) > MaxWebhookURL {
			t.Fatalf("accepted %q: %v", got, perr)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && allowLoopback && netguard.LoopbackHost(u.Hostname())) {
			t.Fatalf("accepted %q with scheme %q", got, u.Scheme)
		}
		if !allowLoopback && netguard.LoopbackHost(u.Hostname()) {
			t.Fatalf("accepted loopback %q without the flag", got)
		}
		again, err := NormalizeWebhookURL(got, "w", allowLoopback)
		if err != nil || again != got {
			t.Fatalf("second pass: %q → %q, %v", got, again, err)
		}
	})
}

// FuzzNormalizeLocalTime: accepted times are HH:MM and round-trip.
func FuzzNormalizeLocalTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		got, mins, err := NormalizeLocalTime(in, "q")
		if err != nil {
			wantInvalid(t, err, "q")
			return
		}
		if len(got) != 5 || mins < 0 || mins >= 24*60 || got[2] != ':' {
			t.Fatalf("accepted %q as %q (%d)", in, got, mins)
		}
		if again, m2, err := NormalizeLocalTime(got, "q"); err != nil || again != got || m2 != mins {
			t.Fatalf("second pass of %q: %q %d %v", got, again, m2, err)
		}
	})
}

// FuzzNormalizeTimeZone: accepted zones load again under the same name.
func FuzzNormalizeTimeZone(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		loc, err := NormalizeTimeZone(in, "z")
		if err != nil {
			wantInvalid(t, err, "z")
			return
		}
		if loc.String() == "Local" || loc.String() == "" || len(loc.String()) > MaxTimeZoneBytes {
			t.Fatalf("accepted %q as %q", in, loc)
		}
		if again, err := NormalizeTimeZone(loc.String(), "z"); err != nil || again.String() != loc.String() {
			t.Fatalf("second pass of %q: %v", loc, err)
		}
	})
}

// FuzzNormalizeLocale: accepted locales are canonical BCP 47 tags.
func FuzzNormalizeLocale(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeLocale(in, "l")
		if err != nil {
			wantInvalid(t, err, "l")
			return
		}
		tag, perr := language.Parse(got)
		if perr != nil || tag.String() != got || len(got) > MaxLocaleBytes {
			t.Fatalf("accepted %q as %q, which is not canonical (%v)", in, got, perr)
		}
		if again, err := NormalizeLocale(got, "l"); err != nil || again != got {
			t.Fatalf("second pass of %q: %q %v", got, again, err)
		}
	})
}

// FuzzDeferUntil: for any window, zone and instant, a deferral ends after
// the instant, within a day and an hour (a clock change), and its end is
// outside the window.
func FuzzDeferUntil(f *testing.F) {
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia"}
	f.Fuzz(func(t *testing.T, start, end uint16, zone uint8, unix int64) {
		s, e := int(start%(24*60)), int(end%(24*60))
		if s == e {
			return
		}
		loc, err := time.LoadLocation(zones[int(zone)%len(zones)])
		if err != nil {
			t.Fatal(err)
		}
		// Keep to years time zones describe (1900–2200).
		at := time.Unix(-2208988800+(unix%(300*365*86400)+300*365*86400)%(300*365*86400), 0)
		q := quietWindow{start: s, end: e, loc: loc}
		got := q.deferUntil(at)
		if got == nil {
			return
		}
		if !got.After(at) || got.Sub(at) > 25*time.Hour {
			t.Fatalf("window %d–%d in %s at %v: deferUntil %v", s, e, loc, at.In(loc), got.In(loc))
		}
		// Where the end falls on a clock change, the next night's window
		// may have begun already (both times in the skipped hour).
		if zs, _ := got.In(loc).ZoneBounds(); got.Sub(zs) < time.Hour {
			return
		}
		if q.deferUntil(*got) != nil && q.deferUntil(got.Add(time.Minute)) != nil {
			t.Fatalf("window %d–%d in %s: deferral end %v is still inside the window", s, e, loc, got.In(loc))
		}
	})
}
