package users_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/ent/users/user"
	"github.com/heraldhq/herald/internal/identity"
)

const prefsFields = `email sms webhook inApp
  channels { channel enabled address usable }
  categories { category critical enabled optedOut channels }
  quietHours { start end timeZone }
  locale`

const fullUserFields = `id name email phone orderCount lastOrderAt createdAt updatedAt preferences { ` + prefsFields + ` }`

type channelPref struct {
	Channel string  `json:"channel"`
	Enabled bool    `json:"enabled"`
	Address *string `json:"address"`
	Usable  bool    `json:"usable"`
}

type categoryPref struct {
	Category string   `json:"category"`
	Critical bool     `json:"critical"`
	Enabled  bool     `json:"enabled"`
	OptedOut []string `json:"optedOut"`
	Channels []string `json:"channels"`
}

type quietHours struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	TimeZone string `json:"timeZone"`
}

type prefs struct {
	Email      bool           `json:"email"`
	SMS        bool           `json:"sms"`
	Webhook    bool           `json:"webhook"`
	InApp      bool           `json:"inApp"`
	Channels   []channelPref  `json:"channels"`
	Categories []categoryPref `json:"categories"`
	QuietHours *quietHours    `json:"quietHours"`
	Locale     string         `json:"locale"`
}

func (p prefs) category(t *testing.T, name string) categoryPref {
	t.Helper()
	for _, c := range p.Categories {
		if c.Category == name {
			return c
		}
	}
	t.Fatalf("no category %s in %+v", name, p.Categories)
	return categoryPref{}
}

type fullUser struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	Phone       *string    `json:"phone"`
	OrderCount  int        `json:"orderCount"`
	LastOrderAt *time.Time `json:"lastOrderAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	Preferences prefs      `json:"preferences"`
}

const registerFull = `mutation($input: RegisterUserInput!) { registerUser(input: $input) { ` + fullUserFields + ` } }`

const updateUserMutation = `mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { webhookSigningSecret user { ` + fullUserFields + ` } } }`

const fullUserQuery = `query($id: ID!) { user(id: $id) { ` + fullUserFields + ` } }`

func (e *env) registerFull(t *testing.T, input map[string]any) fullUser {
	t.Helper()
	return registered[fullUser](t, e, registerFull, input)
}

func (e *env) fullUser(t *testing.T, id string) *fullUser {
	t.Helper()
	return userByID[fullUser](t, e, fullUserQuery, id)
}

type updatePayload struct {
	WebhookSigningSecret *string  `json:"webhookSigningSecret"`
	User                 fullUser `json:"user"`
}

func (e *env) updateUser(t *testing.T, id string, input map[string]any) updatePayload {
	t.Helper()
	var out struct{ UpdateUser updatePayload }
	post(t, e.url, updateUserMutation, map[string]any{"id": id, "input": input}, e.owner(id)...).data(t, &out)
	return out.UpdateUser
}

// uniqueEmail keeps the suites independent of each other's users.
func uniqueEmail(t *testing.T, local string) string {
	return fmt.Sprintf("%s.%d@example.com", local, time.Now().UnixNano())
}

func testPreferences(t *testing.T, e *env) {
	u := e.registerFull(t, map[string]any{
		"name": "Quiet Person", "email": uniqueEmail(t, "quiet"), "phone": "+4915123456789",
		"preferences": map[string]any{
			"sms":        true,
			"quietHours": map[string]any{"start": "22:00", "end": "07:30", "timeZone": "Europe/Berlin"},
			"locale":     "de-de",
			"categories": []any{
				map[string]any{"category": "MARKETING", "enabled": true, "optedOut": []any{"SMS", "SMS", "EMAIL"}},
			},
		},
	})
	p := u.Preferences
	if !p.Email || !p.SMS || p.Webhook || !p.InApp || p.Locale != "de-DE" {
		t.Fatalf("registered preferences %+v", p)
	}
	if p.QuietHours == nil || *p.QuietHours != (quietHours{"22:00", "07:30", "Europe/Berlin"}) {
		t.Fatalf("quiet hours %+v", p.QuietHours)
	}
	m := p.category(t, "MARKETING")
	if m.Critical || !m.Enabled || strings.Join(m.OptedOut, ",") != "EMAIL,SMS" || strings.Join(m.Channels, ",") != "IN_APP" {
		t.Fatalf("MARKETING %+v, want enabled, opted out of EMAIL and SMS, delivering IN_APP only", m)
	}
	o := p.category(t, "ORDER_UPDATES")
	if !o.Critical || !o.Enabled || strings.Join(o.Channels, ",") != "EMAIL,SMS,IN_APP" {
		t.Fatalf("ORDER_UPDATES %+v, want critical on EMAIL, SMS and IN_APP (no webhook URL)", o)
	}
	if len(p.Channels) != 4 || p.Channels[1].Channel != "SMS" || p.Channels[1].Address == nil ||
		*p.Channels[1].Address != "+4915123456789" || !p.Channels[1].Usable || p.Channels[2].Usable {
		t.Fatalf("channels %+v", p.Channels)
	}
	if got := e.fullUser(t, u.ID); got == nil || !jsonEqual(t, got.Preferences, p) {
		t.Fatalf("read back %+v, registered %+v", got, p)
	}

	// Partial changes: only the named category and fields change; an
	// explicit null removes quiet hours.
	upd := e.updateUser(t, u.ID, map[string]any{"preferences": map[string]any{
		"categories": []any{map[string]any{"category": "MARKETING", "optedOut": []any{}}},
		"quietHours": nil,
		"inApp":      false,
	}})
	p2 := upd.User.Preferences
	if p2.QuietHours != nil || p2.InApp || !p2.SMS || p2.Locale != "de-DE" {
		t.Fatalf("after update %+v", p2)
	}
	if m := p2.category(t, "MARKETING"); !m.Enabled || len(m.OptedOut) != 0 || strings.Join(m.Channels, ",") != "EMAIL,SMS" {
		t.Fatalf("MARKETING after clearing opt-outs %+v", m)
	}
	if got := e.fullUser(t, u.ID); !jsonEqual(t, got.Preferences, p2) {
		t.Fatalf("stored %+v, returned %+v", got.Preferences, p2)
	}
	// The old mutation still works and sees the same model.
	var old struct{ UpdateNotificationPreferences fullUser }
	post(t, e.url, `mutation($id: ID!, $input: NotificationPreferencesInput!) {
	  updateNotificationPreferences(userId: $id, input: $input) { `+fullUserFields+` } }`,
		map[string]any{"id": u.ID, "input": map[string]any{"quietHours": map[string]any{"start": "23:00", "end": "06:00", "timeZone": "America/New_York"}}}).data(t, &old)
	if q := old.UpdateNotificationPreferences.Preferences.QuietHours; q == nil || q.TimeZone != "America/New_York" {
		t.Fatalf("quiet hours through updateNotificationPreferences: %+v", q)
	}
	// Critical categories cannot be switched off.
	upd = e.updateUser(t, u.ID, map[string]any{"preferences": map[string]any{
		"categories": []any{map[string]any{"category": "ORDER_UPDATES", "enabled": false, "optedOut": []any{"SMS"}}},
	}})
	if o := upd.User.Preferences.category(t, "ORDER_UPDATES"); !o.Enabled || strings.Join(o.OptedOut, ",") != "SMS" ||
		strings.Join(o.Channels, ",") != "EMAIL,SMS" {
		t.Fatalf("critical ORDER_UPDATES after opting out: %+v, want still on everywhere usable", o)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func testInvalidUpdates(t *testing.T, e *env) {
	u := e.registerFull(t, map[string]any{"name": "Valid", "email": uniqueEmail(t, "valid"), "phone": "+16502530000",
		"preferences": map[string]any{"locale": "en-GB"}})
	before, err := e.client.User.Get(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	prefs := func(p map[string]any) map[string]any { return map[string]any{"preferences": p} }
	qh := func(start, end, zone string) map[string]any {
		return prefs(map[string]any{"quietHours": map[string]any{"start": start, "end": end, "timeZone": zone}})
	}
	tests := []struct {
		name  string
		input map[string]any
		field string
	}{
		{"bad email", map[string]any{"email": "not-an-email"}, "input.email"},
		{"email removed", map[string]any{"email": nil}, "input.email"},
		{"bad phone", map[string]any{"phone": "+1 555"}, "input.phone"},
		{"empty name", map[string]any{"name": " "}, "input.name"},
		{"http webhook", map[string]any{"webhook": map[string]any{"url": "http://example.com/hook"}}, "input.webhook.url"},
		{"loopback webhook without the dev flag", map[string]any{"webhook": map[string]any{"url": "https://127.0.0.1/hook"}}, "input.webhook.url"},
		{"private address webhook", map[string]any{"webhook": map[string]any{"url": "https://10.0.0.8/hook"}}, "input.webhook.url"},
		{"webhook with credentials", map[string]any{"webhook": map[string]any{"url": "https://u:p@example.com/"}}, "input.webhook.url"},
		{"not a URL", map[string]any{"webhook": map[string]any{"url": "hooks.example.com"}}, "input.webhook.url"},
		{"rotate a missing webhook", map[string]any{"webhook": map[string]any{"rotateSecret": true}}, "input.webhook.rotateSecret"},
		{"unknown zone", qh("22:00", "07:00", "Mars/Olympus_Mons"), "input.preferences.quietHours.timeZone"},
		{"Local zone", qh("22:00", "07:00", "Local"), "input.preferences.quietHours.timeZone"},
		{"bad start", qh("25:00", "07:00", "UTC"), "input.preferences.quietHours.start"},
		{"single-digit hour", qh("9:00", "17:00", "UTC"), "input.preferences.quietHours.start"},
		{"bad end", qh("22:00", "7pm", "UTC"), "input.preferences.quietHours.end"},
		{"empty window", qh("22:00", "22:00", "UTC"), "input.preferences.quietHours.end"},
		{"bad locale", prefs(map[string]any{"locale": "not a locale"}), "input.preferences.locale"},
		{"locale removed", prefs(map[string]any{"locale": nil}), "input.preferences.locale"},
		{"category twice", prefs(map[string]any{"categories": []any{
			map[string]any{"category": "MARKETING", "enabled": true}, map[string]any{"category": "MARKETING"}}}), "input.preferences.categories"},
		// A valid change next to an invalid one: nothing is applied.
		{"valid name with a bad zone", map[string]any{"name": "Changed", "preferences": map[string]any{
			"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "Europe/Nowhere"}}}, "input.preferences.quietHours.timeZone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, e.url, updateUserMutation, map[string]any{"id": u.ID, "input": tt.input})
			err := resp.onlyError(t)
			if err.Extensions["code"] != "BAD_USER_INPUT" || err.Extensions["field"] != tt.field {
				t.Fatalf("error %+v, want BAD_USER_INPUT on %s", err, tt.field)
			}
			after, qerr := e.client.User.Get(t.Context(), u.ID)
			if qerr != nil {
				t.Fatal(qerr)
			}
			if !jsonEqual(t, after, before) || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("user changed by a refused update:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	// Registration refuses bad preferences too, and stores nothing.
	n := e.count(t)
	resp := post(t, e.url, registerFull, map[string]any{"input": map[string]any{"name": "X", "email": uniqueEmail(t, "x"),
		"preferences": map[string]any{"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "Nowhere/Land"}}}})
	if err := resp.onlyError(t); err.Extensions["code"] != "BAD_USER_INPUT" || err.Extensions["field"] != "input.preferences.quietHours.timeZone" {
		t.Fatalf("register with a bad zone: %+v", err)
	}
	if e.count(t) != n {
		t.Fatal("a refused registration stored a user")
	}
}

func testUpdateUser(t *testing.T, e *env) {
	a := e.registerFull(t, map[string]any{"name": "Anne", "email": uniqueEmail(t, "anne"), "phone": "+16502530000"})
	b := e.registerFull(t, map[string]any{"name": "Bert", "email": uniqueEmail(t, "bert")})

	upd := e.updateUser(t, a.ID, map[string]any{"name": " Anne B. ", "email": " NEW." + strings.ToUpper(a.Email), "phone": nil})
	if upd.User.Name != "Anne B." || upd.User.Email != "new."+a.Email || upd.User.Phone != nil || upd.WebhookSigningSecret != nil {
		t.Fatalf("updated %+v", upd)
	}
	if !upd.User.UpdatedAt.After(a.UpdatedAt) && !upd.User.UpdatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("updatedAt went back: %v → %v", a.UpdatedAt, upd.User.UpdatedAt)
	}
	// Fields left out stay; an empty phone removes it too.
	upd = e.updateUser(t, a.ID, map[string]any{"phone": "+44 20 7946 0018"})
	if upd.User.Name != "Anne B." || upd.User.Phone == nil || *upd.User.Phone != "+442079460018" {
		t.Fatalf("updated %+v", upd.User)
	}
	if upd = e.updateUser(t, a.ID, map[string]any{"phone": ""}); upd.User.Phone != nil {
		t.Fatalf("phone %q after setting it empty", *upd.User.Phone)
	}

	// Email stays unique, case-insensitively.
	resp := post(t, e.url, updateUserMutation, map[string]any{"id": b.ID, "input": map[string]any{"name": "Bert 2", "email": strings.ToUpper(upd.User.Email)}})
	if err := resp.onlyError(t); err.Extensions["code"] != "CONFLICT" || err.Extensions["field"] != "input.email" {
		t.Fatalf("taking another user's email: %+v", err)
	}
	if got := e.fullUser(t, b.ID); got.Name != "Bert" || got.Email != b.Email {
		t.Fatalf("a refused update changed %+v", got)
	}
	// Unknown users.
	resp = post(t, e.url, updateUserMutation, map[string]any{"id": "00000000-0000-0000-0000-000000000000", "input": map[string]any{"name": "Nobody"}})
	if err := resp.onlyError(t); err.Extensions["code"] != "NOT_FOUND" || err.Extensions["field"] != "id" {
		t.Fatalf("update unknown: %+v", err)
	}
}

func testWebhook(t *testing.T, e *env) {
	u := e.registerFull(t, map[string]any{"name": "Hook", "email": uniqueEmail(t, "hook")})
	upd := e.updateUser(t, u.ID, map[string]any{"webhook": map[string]any{"url": "https://Hooks.Example.com/herald?x=1"}})
	if upd.WebhookSigningSecret == nil || !strings.HasPrefix(*upd.WebhookSigningSecret, "whsec_") {
		t.Fatalf("no signing secret in %+v", upd)
	}
	secret := *upd.WebhookSigningSecret
	w := upd.User.Preferences.Channels[2]
	if !upd.User.Preferences.Webhook || w.Channel != "WEBHOOK" || w.Address == nil || *w.Address != "https://hooks.example.com/herald?x=1" || !w.Usable {
		t.Fatalf("webhook channel %+v", w)
	}
	// Shown once: not in later responses, not stored in the clear where
	// anyone reading the row would see it without the prefix.
	if again := e.updateUser(t, u.ID, map[string]any{"webhook": map[string]any{"url": "https://hooks.example.com/herald?x=1"}}); again.WebhookSigningSecret != nil {
		t.Fatal("the same URL again showed a secret again")
	}
	stored, err := e.client.User.Get(t.Context(), u.ID)
	if err != nil || stored.WebhookSecret == nil || *stored.WebhookSecret == secret {
		t.Fatalf("stored secret %v (%v)", stored.WebhookSecret, err)
	}
	// The notifier gets the secret with the policy and can sign with it.
	pol := e.policy(t, u.ID, "ORDER_UPDATES", nil)
	d := pol.delivery(t, "WEBHOOK")
	if !d.Deliver || d.SigningSecret == nil || *d.SigningSecret != secret {
		t.Fatalf("webhook decision %+v, want the secret shown at creation", d)
	}
	mac := hmac.New(sha256.New, []byte(*d.SigningSecret))
	mac.Write([]byte(`{"hello":"world"}`))
	if len(mac.Sum(nil)) != 32 {
		t.Fatal("cannot sign")
	}
	// Rotation replaces it; switching off keeps URL and secret.
	rot := e.updateUser(t, u.ID, map[string]any{"webhook": map[string]any{"rotateSecret": true}})
	if rot.WebhookSigningSecret == nil || *rot.WebhookSigningSecret == secret {
		t.Fatalf("rotation gave %v", rot.WebhookSigningSecret)
	}
	if off := e.updateUser(t, u.ID, map[string]any{"webhook": map[string]any{"enabled": false}}); off.User.Preferences.Webhook {
		t.Fatal("webhook still on")
	}
	if d := e.policy(t, u.ID, "ORDER_UPDATES", nil).delivery(t, "WEBHOOK"); d.Deliver || d.Reason == nil || *d.Reason != "CHANNEL_OFF" {
		t.Fatalf("decision for a switched-off webhook %+v", d)
	}
	// Removing the URL removes the secret.
	gone := e.updateUser(t, u.ID, map[string]any{"webhook": map[string]any{"url": nil}})
	if gone.User.Preferences.Webhook || gone.User.Preferences.Channels[2].Address != nil {
		t.Fatalf("after removal %+v", gone.User.Preferences.Channels[2])
	}
	if stored, _ := e.client.User.Get(t.Context(), u.ID); stored.WebhookSecret != nil || stored.WebhookURL != nil {
		t.Fatal("secret or URL kept after removing the webhook")
	}
}

type decision struct {
	Channel       string  `json:"channel"`
	Deliver       bool    `json:"deliver"`
	Reason        *string `json:"reason"`
	Address       *string `json:"address"`
	SigningSecret *string `json:"signingSecret"`
}

type policy struct {
	UserID     string     `json:"userId"`
	Status     string     `json:"status"`
	Category   string     `json:"category"`
	Critical   bool       `json:"critical"`
	Name       *string    `json:"name"`
	Locale     string     `json:"locale"`
	Deliveries []decision `json:"deliveries"`
	DeferUntil *time.Time `json:"deferUntil"`
}

func (p policy) delivery(t *testing.T, ch string) decision {
	t.Helper()
	for _, d := range p.Deliveries {
		if d.Channel == ch {
			return d
		}
	}
	t.Fatalf("no %s decision in %+v", ch, p)
	return decision{}
}

func (p policy) channels() string {
	var out []string
	for _, d := range p.Deliveries {
		if d.Deliver {
			out = append(out, d.Channel)
		}
	}
	return strings.Join(out, ",")
}

const policyQuery = `query($id: ID!, $c: NotificationCategory!, $at: Time) {
  notificationPolicy(userId: $id, category: $c, at: $at) {
    userId status category critical name locale deferUntil
    deliveries { channel deliver reason address signingSecret } } }`

func (e *env) policy(t *testing.T, id, category string, at *time.Time) policy {
	t.Helper()
	vars := map[string]any{"id": id, "c": category}
	if at != nil {
		vars["at"] = at.Format(time.RFC3339)
	}
	var out struct{ NotificationPolicy policy }
	post(t, e.url, policyQuery, vars, identity.Identity{Service: identity.ServiceNotifier}).data(t, &out)
	return out.NotificationPolicy
}

func testNotificationPolicy(t *testing.T, e *env) {
	u := e.registerFull(t, map[string]any{"name": "Policy", "email": uniqueEmail(t, "policy"), "phone": "+16502530000",
		"preferences": map[string]any{
			"sms": true, "locale": "fr-CA",
			"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "America/New_York"},
			"categories": []any{
				map[string]any{"category": "MARKETING", "enabled": true, "optedOut": []any{"SMS"}},
				map[string]any{"category": "ORDER_UPDATES", "optedOut": []any{"EMAIL"}},
			},
		}})
	// 03:00 UTC on 15 January is 22:00 in New York: inside quiet hours.
	night := time.Date(2026, 1, 15, 3, 0, 0, 0, time.UTC)
	day := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC) // 12:00 in New York

	m := e.policy(t, u.ID, "MARKETING", &night)
	if m.Status != "ACTIVE" || m.Critical || m.Locale != "fr-CA" || m.Name == nil || *m.Name != "Policy" || m.channels() != "EMAIL,IN_APP" {
		t.Fatalf("MARKETING at night %+v", m)
	}
	if d := m.delivery(t, "SMS"); d.Reason == nil || *d.Reason != "OPTED_OUT" {
		t.Fatalf("SMS decision %+v, want OPTED_OUT", d)
	}
	if d := m.delivery(t, "WEBHOOK"); d.Reason == nil || *d.Reason != "CHANNEL_OFF" {
		t.Fatalf("WEBHOOK decision %+v, want CHANNEL_OFF", d)
	}
	if d := m.delivery(t, "EMAIL"); d.Address == nil || *d.Address != u.Email {
		t.Fatalf("EMAIL decision %+v", d)
	}
	// Deferred to 07:00 New York = 12:00 UTC.
	if want := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC); m.DeferUntil == nil || !m.DeferUntil.Equal(want) {
		t.Fatalf("deferUntil %v, want %v", m.DeferUntil, want)
	}
	if m := e.policy(t, u.ID, "MARKETING", &day); m.DeferUntil != nil {
		t.Fatalf("deferred at noon until %v", m.DeferUntil)
	}
	// Critical: opt-outs and quiet hours do not apply.
	o := e.policy(t, u.ID, "ORDER_UPDATES", &night)
	if !o.Critical || o.DeferUntil != nil || o.channels() != "EMAIL,SMS,IN_APP" {
		t.Fatalf("ORDER_UPDATES at night %+v, want critical, now, on every usable channel", o)
	}
	// A category switched off delivers nowhere.
	e.updateUser(t, u.ID, map[string]any{"preferences": map[string]any{"categories": []any{map[string]any{"category": "MARKETING", "enabled": false}}}})
	if m := e.policy(t, u.ID, "MARKETING", &day); m.channels() != "" || *m.delivery(t, "EMAIL").Reason != "CATEGORY_OFF" {
		t.Fatalf("MARKETING off %+v", m)
	}
	// Unknown users: an answer, not an error.
	n := e.policy(t, "00000000-0000-0000-0000-000000000000", "ORDER_UPDATES", nil)
	if n.Status != "NOT_FOUND" || n.channels() != "" || n.Name != nil || *n.Deliveries[0].Reason != "USER_NOT_FOUND" {
		t.Fatalf("policy for an unknown user %+v", n)
	}
}

func testDeleteUser(t *testing.T, e *env) {
	email := uniqueEmail(t, "gone")
	u := e.registerFull(t, map[string]any{"name": "Gone Soon", "email": email, "phone": "+16502530000",
		"preferences": map[string]any{"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "UTC"}}})
	e.updateUser(t, u.ID, map[string]any{"webhook": map[string]any{"url": "https://hooks.example.com/x"}})

	const del = `mutation($id: ID!) { deleteUser(id: $id) { id deletedAt } }`
	var out struct {
		DeleteUser struct {
			ID        string
			DeletedAt time.Time
		}
	}
	post(t, e.url, del, map[string]any{"id": u.ID}).data(t, &out)
	if out.DeleteUser.ID != u.ID || out.DeleteUser.DeletedAt.IsZero() {
		t.Fatalf("deleteUser %+v", out)
	}
	first := out.DeleteUser.DeletedAt
	// Idempotent.
	post(t, e.url, del, map[string]any{"id": u.ID}).data(t, &out)
	if !out.DeleteUser.DeletedAt.Equal(first) {
		t.Fatalf("second delete moved deletedAt %v → %v", first, out.DeleteUser.DeletedAt)
	}
	// Gone for clients, including the notifier's existing query.
	if got := e.user(t, u.ID); got != nil {
		t.Fatalf("user(deleted) = %+v", got)
	}
	p := e.policy(t, u.ID, "ORDER_UPDATES", nil)
	if p.Status != "DELETED" || p.channels() != "" || p.Name != nil || *p.Deliveries[0].Reason != "USER_DELETED" {
		t.Fatalf("policy of a deleted user %+v", p)
	}
	// Personal data erased in the row itself.
	row, err := e.client.User.Get(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Name != "" || row.Email != nil || row.Phone != nil || row.WebhookURL != nil || row.WebhookSecret != nil ||
		row.QuietTimeZone != nil || row.DeletedAt == nil {
		t.Fatalf("tombstone still holds personal data: %+v", row)
	}
	if n, _ := e.client.User.Query().Where(user.EmailEQ(email)).Count(t.Context()); n != 0 {
		t.Fatal("the email is still stored")
	}
	// Updates are refused; the address is free again.
	resp := post(t, e.url, updateUserMutation, map[string]any{"id": u.ID, "input": map[string]any{"name": "Back"}})
	if err := resp.onlyError(t); err.Extensions["code"] != "NOT_FOUND" {
		t.Fatalf("updating a deleted user: %+v", err)
	}
	again := e.registerFull(t, map[string]any{"name": "New Owner", "email": email})
	if again.ID == u.ID {
		t.Fatal("re-registration reused the tombstone")
	}
	resp = post(t, e.url, del, map[string]any{"id": "00000000-0000-0000-0000-000000000000"})
	if err := resp.onlyError(t); err.Extensions["code"] != "NOT_FOUND" {
		t.Fatalf("deleting an unknown user: %+v", err)
	}
}

type connection struct {
	Edges []struct {
		Cursor string
		Node   struct{ ID, Email string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Count int
}

const usersQuery = `query($first: Int, $after: String) { users(first: $first, after: $after) {
  count edges { cursor node { id email } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

func testUsersConnection(t *testing.T, e *env) {
	// Walk every page of 3 and compare with the database's active users.
	seen := map[string]bool{}
	var order []string
	var after any
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		var out struct{ Users connection }
		post(t, e.url, usersQuery, map[string]any{"first": 3, "after": after}).data(t, &out)
		c := out.Users
		if c.Count != len(c.Edges) || len(c.Edges) > 3 {
			t.Fatalf("page of %d edges, count %d", len(c.Edges), c.Count)
		}
		if c.PageInfo.HasPreviousPage != (after != nil) {
			t.Fatalf("hasPreviousPage %v on page %d", c.PageInfo.HasPreviousPage, pages)
		}
		for _, edge := range c.Edges {
			if seen[edge.Node.ID] {
				t.Fatalf("user %s on two pages", edge.Node.ID)
			}
			seen[edge.Node.ID] = true
			order = append(order, edge.Node.ID)
		}
		if len(c.Edges) > 0 && (*c.PageInfo.EndCursor != c.Edges[len(c.Edges)-1].Cursor || *c.PageInfo.StartCursor != c.Edges[0].Cursor) {
			t.Fatalf("pageInfo cursors %+v do not match the edges", c.PageInfo)
		}
		if !c.PageInfo.HasNextPage {
			break
		}
		after = *c.PageInfo.EndCursor
	}
	want, err := e.client.User.Query().Where(user.DeletedAtIsNil()).
		Order(user.ByCreatedAt(), user.ByID()).IDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("paged order\n%v\nwant (created_at, id) order of active users\n%v", order, want)
	}
	if len(want) < 4 {
		t.Fatalf("only %d users: the walk proved nothing", len(want))
	}
	for _, bad := range []map[string]any{{"first": 0}, {"first": 101}, {"first": -1}} {
		if err := post(t, e.url, usersQuery, bad).onlyError(t); err.Extensions["code"] != "BAD_USER_INPUT" || err.Extensions["field"] != "first" {
			t.Fatalf("first=%v: %+v", bad["first"], err)
		}
	}
	for _, bad := range []string{"garbage", "eyJ2IjoyfQ", ""} {
		resp := post(t, e.url, usersQuery, map[string]any{"first": 1, "after": bad})
		if bad == "" {
			continue // an empty cursor means the start
		}
		if err := resp.onlyError(t); err.Extensions["code"] != "BAD_USER_INPUT" || err.Extensions["field"] != "after" {
			t.Fatalf("after=%q: %+v", bad, err)
		}
	}
}
