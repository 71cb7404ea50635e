package channel_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

func TestRegistry(t *testing.T) {
	var names []string
	for _, k := range channel.Kinds() {
		names = append(names, k.Name)
	}
	if want := []string{email.Name, sms.Name, webhook.Name}; !slices.Equal(names, want) {
		t.Errorf("Kinds = %v, want %v (by name)", names, want)
	}
	for _, tc := range []struct {
		enum string
		want string // "" = not found
	}{
		{"EMAIL", email.Name}, {"SMS", sms.Name}, {"WEBHOOK", webhook.Name},
		{"IN_APP", ""}, {"email", ""}, {"PUSH", ""}, {"", ""},
	} {
		k, ok := channel.ByEnum(tc.enum)
		if k.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("ByEnum(%q) = %q, %v; want %q", tc.enum, k.Name, ok, tc.want)
		}
	}
	if got := sms.Kind.NoAddressReason(); got != "sms enabled but the user has no phone number" {
		t.Errorf("NoAddressReason = %q", got)
	}
	if got := webhook.Kind.MaskRecipient("https://hooks.example.com/t0ken"); got != "***" {
		t.Errorf("a kind without Mask shows %q", got)
	}
	if got := email.Kind.Enum(); got != "EMAIL" {
		t.Errorf("Enum = %q", got)
	}
}

// Register refuses what would break the notifier later: a kind it could
// not name, configure or word reasons for, and a name taken twice.
func TestRegisterRefuses(t *testing.T) {
	configure := func(*config.Vars) channel.Config { return nil }
	for _, tc := range []struct {
		name string
		kind channel.Kind
	}{
		{"taken", channel.Kind{Name: email.Name, Address: "x", Configure: configure, TimeoutVar: "HERALD_PUSH_TIMEOUT"}},
		{"no name", channel.Kind{Address: "x", Configure: configure, TimeoutVar: "HERALD_PUSH_TIMEOUT"}},
		{"upper case", channel.Kind{Name: "Push", Address: "x", Configure: configure, TimeoutVar: "HERALD_PUSH_TIMEOUT"}},
		{"underscore", channel.Kind{Name: "in_app", Address: "x", Configure: configure, TimeoutVar: "HERALD_PUSH_TIMEOUT"}},
		{"no address", channel.Kind{Name: "push", Configure: configure, TimeoutVar: "HERALD_PUSH_TIMEOUT"}},
		{"no configuration", channel.Kind{Name: "push", Address: "device token", TimeoutVar: "HERALD_PUSH_TIMEOUT"}},
		{"no timeout variable", channel.Kind{Name: "push", Address: "x", Configure: configure}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", tc.name)
				}
			}()
			channel.Register(tc.kind)
		}()
	}
	if _, ok := channel.Lookup("push"); ok {
		t.Error("a refused kind was registered")
	}
}

// Each channel's timeout variable defaults to its DefaultTimeout, and an
// unset timeout counts as that default.
func TestTimeoutDefaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		def   time.Duration
		unset channel.Config
	}{
		{email.Name, email.DefaultTimeout, email.Config{}},
		{sms.Name, sms.DefaultTimeout, sms.Config{}},
		{webhook.Name, webhook.DefaultTimeout, webhook.Config{Timeout: -time.Second}},
	} {
		k, _ := channel.Lookup(tc.name)
		if got := k.Configure(config.New(nil)).SendTimeout(); got != tc.def {
			t.Errorf("%s: declared timeout %v, want DefaultTimeout %v", tc.name, got, tc.def)
		}
		if got := tc.unset.SendTimeout(); got != tc.def {
			t.Errorf("%s: SendTimeout unset = %v, want %v", tc.name, got, tc.def)
		}
	}
}

func TestTimeoutOrAndOpened(t *testing.T) {
	for _, tc := range []struct{ d, want time.Duration }{{0, 5 * time.Second}, {-time.Second, 5 * time.Second}, {time.Second, time.Second}} {
		if got := channel.TimeoutOr(tc.d, 5*time.Second); got != tc.want {
			t.Errorf("TimeoutOr(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
	// A failed New must give a nil Sender, not an interface holding a nil
	// pointer that a caller would take for an open channel.
	s, err := channel.Opened((*webhook.Sender)(nil), errors.New("bad config"))
	if s != nil || err == nil {
		t.Errorf("Opened of a failure = %v, %v; want nil and the error", s, err)
	}
}
