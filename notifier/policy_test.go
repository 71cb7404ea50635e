package notifier

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

func TestDecide(t *testing.T) {
	all := map[string]bool{"email": true, "sms": true, "webhook": true}
	emailOnly := map[string]bool{"email": true}
	// 2026-01-15 is in winter: Berlin is UTC+1, New York UTC-5.
	utc := func(h, m int) time.Time { return time.Date(2026, 1, 15, h, m, 0, 0, time.UTC) }
	base := func() Policy {
		return Policy{
			UserID: "u", Status: UserActive, Name: "Ada", Locale: "en",
			Channels: map[string]ChannelPref{
				"email":   {Enabled: true, Address: "ada@example.com"},
				"sms":     {Enabled: true, Address: "+4915112345678"},
				"webhook": {Enabled: false, Address: ""},
			},
			Categories: map[string]CategoryPref{
				CategoryOrderUpdates: {Critical: false, Enabled: true},
				CategoryMarketing:    {Enabled: false},
			},
		}
	}
	with := func(f func(*Policy)) Policy { p := base(); f(&p); return p }
	nightBerlin := &QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Berlin"}

	type want struct {
		status, reason string
		due            time.Time
	}
	tests := []struct {
		name      string
		p         Policy
		category  string
		now       time.Time
		available map[string]bool
		want      map[string]want // by channel; missing = no decision expected at all
	}{
		{"email and sms on, all available", base(), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"PENDING", "", utc(12, 0)}, "sms": {"PENDING", "", utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"sms not configured here", base(), CategoryOrderUpdates, utc(12, 0), emailOnly, map[string]want{
			"email": {"PENDING", "", utc(12, 0)}, "sms": {"SKIPPED", ReasonChannelUnavailable, utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"channel off: no row", with(func(p *Policy) { p.Channels["email"] = ChannelPref{Enabled: false, Address: "a@b.c"} }), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"", ReasonChannelOff, utc(12, 0)}, "sms": {"PENDING", "", utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"missing phone and webhook URL: skipped with reason", with(func(p *Policy) {
			p.Channels["sms"] = ChannelPref{Enabled: true}
			p.Channels["webhook"] = ChannelPref{Enabled: true}
		}), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"PENDING", "", utc(12, 0)}, "sms": {"SKIPPED", sms.Kind.NoAddressReason(), utc(12, 0)}, "webhook": {"SKIPPED", webhook.Kind.NoAddressReason(), utc(12, 0)},
		}},
		{"missing email address", with(func(p *Policy) { p.Channels["email"] = ChannelPref{Enabled: true} }), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"SKIPPED", email.Kind.NoAddressReason(), utc(12, 0)}, "sms": {"PENDING", "", utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"category off: no rows", base(), CategoryMarketing, utc(12, 0), all, map[string]want{
			"email": {"", ReasonCategoryOff, utc(12, 0)}, "sms": {"", ReasonCategoryOff, utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"opted out of sms for the category", with(func(p *Policy) {
			p.Categories[CategoryOrderUpdates] = CategoryPref{Enabled: true, OptedOut: map[string]bool{"sms": true}}
		}), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"PENDING", "", utc(12, 0)}, "sms": {"", ReasonOptedOut, utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"critical ignores opt-out and category switch", with(func(p *Policy) {
			p.Categories[CategoryOrderUpdates] = CategoryPref{Critical: true, Enabled: false, OptedOut: map[string]bool{"sms": true, "email": true}}
		}), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"PENDING", "", utc(12, 0)}, "sms": {"PENDING", "", utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		{"critical does not override a channel switched off", with(func(p *Policy) {
			p.Categories[CategoryOrderUpdates] = CategoryPref{Critical: true, Enabled: true}
			p.Channels["sms"] = ChannelPref{Enabled: false, Address: "+4915112345678"}
		}), CategoryOrderUpdates, utc(12, 0), all, map[string]want{
			"email": {"PENDING", "", utc(12, 0)}, "sms": {"", ReasonChannelOff, utc(12, 0)}, "webhook": {"", ReasonChannelOff, utc(12, 0)},
		}},
		// 23:30 UTC = 00:30 Berlin, inside 22:00–07:00: deferred to 07:00 Berlin = 06:00 UTC next day.
		{"quiet hours after midnight (Berlin)", with(func(p *Policy) { p.Quiet = nightBerlin }), CategoryOrderUpdates, utc(23, 30), all, map[string]want{
			"email": {"DEFERRED", ReasonQuietHours, utc(6, 0).AddDate(0, 0, 1)}, "sms": {"DEFERRED", ReasonQuietHours, utc(6, 0).AddDate(0, 0, 1)}, "webhook": {"", ReasonChannelOff, utc(23, 30)},
		}},
		// 21:30 UTC = 22:30 Berlin: window runs to 07:00 Berlin tomorrow.
		{"quiet hours before midnight (Berlin)", with(func(p *Policy) { p.Quiet = nightBerlin }), CategoryOrderUpdates, utc(21, 30), emailOnly, map[string]want{
			"email": {"DEFERRED", ReasonQuietHours, utc(6, 0).AddDate(0, 0, 1)}, "sms": {"SKIPPED", ReasonChannelUnavailable, utc(21, 30)}, "webhook": {"", ReasonChannelOff, utc(21, 30)},
		}},
		// 05:59 UTC = 06:59 Berlin: still inside, due at 06:00 UTC today.
		{"quiet hours last minute", with(func(p *Policy) { p.Quiet = nightBerlin }), CategoryOrderUpdates, utc(5, 59), emailOnly, map[string]want{
			"email": {"DEFERRED", ReasonQuietHours, utc(6, 0)},
		}},
		// 06:00 UTC = 07:00 Berlin: the end is exclusive.
		{"quiet hours just ended", with(func(p *Policy) { p.Quiet = nightBerlin }), CategoryOrderUpdates, utc(6, 0), emailOnly, map[string]want{
			"email": {"PENDING", "", utc(6, 0)},
		}},
		{"same-day window in New York", with(func(p *Policy) {
			p.Quiet = &QuietHours{Start: "09:00", End: "17:00", TimeZone: "America/New_York"}
		}), CategoryOrderUpdates, utc(15, 0), emailOnly, map[string]want{ // 10:00 in New York
			"email": {"DEFERRED", ReasonQuietHours, utc(22, 0)},
		}},
		{"critical ignores quiet hours", with(func(p *Policy) {
			p.Quiet = nightBerlin
			p.Categories[CategoryOrderUpdates] = CategoryPref{Critical: true, Enabled: true}
		}), CategoryOrderUpdates, utc(23, 30), emailOnly, map[string]want{
			"email": {"PENDING", "", utc(23, 30)},
		}},
		{"unknown zone: no quiet hours rather than no mail", with(func(p *Policy) {
			p.Quiet = &QuietHours{Start: "00:00", End: "23:59", TimeZone: "Mars/Olympus"}
		}), CategoryOrderUpdates, utc(12, 0), emailOnly, map[string]want{
			"email": {"PENDING", "", utc(12, 0)},
		}},
		{"missing contact still skipped during quiet hours", with(func(p *Policy) {
			p.Quiet = nightBerlin
			p.Channels["email"] = ChannelPref{Enabled: true}
		}), CategoryOrderUpdates, utc(23, 30), emailOnly, map[string]want{
			"email": {"SKIPPED", email.Kind.NoAddressReason(), utc(23, 30)},
		}},
		{"deleted user: nothing", with(func(p *Policy) { p.Status = UserDeleted }), CategoryOrderUpdates, utc(12, 0), all, nil},
		{"unknown user: nothing", Policy{UserID: "x", Status: UserNotFound}, CategoryOrderUpdates, utc(12, 0), all, nil},
		{"unknown category: treated as on, not critical", with(func(p *Policy) { p.Quiet = nightBerlin }), "SHIPPING", utc(23, 30), emailOnly, map[string]want{
			"email": {"DEFERRED", ReasonQuietHours, utc(6, 0).AddDate(0, 0, 1)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.p, tc.category, tc.now, tc.available)
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("Decide = %+v, want nothing", got)
				}
				return
			}
			byCh := map[string]Decision{}
			for _, d := range got {
				byCh[d.Channel] = d
			}
			for ch, w := range tc.want {
				d, ok := byCh[ch]
				if !ok {
					t.Errorf("%s: no decision", ch)
					continue
				}
				if d.Status != w.status || d.Reason != w.reason || !d.DueAt.Equal(w.due) {
					t.Errorf("%s: got status %q reason %q due %v; want %q %q %v", ch, d.Status, d.Reason, d.DueAt, w.status, w.reason, w.due)
				}
				if d.Status != "" && d.Recipient != tc.p.Channels[ch].Address {
					t.Errorf("%s: recipient %q", ch, d.Recipient)
				}
			}
		})
	}
}

// A DST change inside the window: in Berlin on 2026-03-29 clocks jump from
// 02:00 to 03:00; a 01:00–04:00 window entered at 01:30 local ends at 04:00
// CEST = 02:00 UTC.
func TestQuietHoursAcrossDST(t *testing.T) {
	q := QuietHours{Start: "01:00", End: "04:00", TimeZone: "Europe/Berlin"}
	now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // 01:30 CET
	end, err := q.windowEnd(now)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC); !end.Equal(want) {
		t.Errorf("window end = %v, want %v", end, want)
	}
}
