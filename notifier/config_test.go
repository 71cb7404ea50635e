package notifier

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

func TestLoadConfigDefaults(t *testing.T) {
	v := config.New(nil)
	c := LoadConfig(v)
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"http", c.HTTPAddr, ":4003"},
		{"driver", c.DB.Driver, "sqlite"},
		{"dsn", c.DB.DSN, ".run/notifier.db"},
		{"users", c.UsersURL, "http://127.0.0.1:4001/graphql"},
		{"topic", c.Topic, "OrderCreated"},
		{"group", c.Group, "herald-notifier"},
		{"smtp", c.Channels[email.Name].(email.Config).Addr, "127.0.0.1:1025"},
		{"tls", c.Channels[email.Name].(email.Config).TLS, "starttls-required"},
		{"from", c.Channels[email.Name].(email.Config).From, "Herald <notifications@herald.local>"},
		{"webhook timeout", c.Channels[webhook.Name].(webhook.Config).Timeout.String(), "10s"},
		{"sms off", fmt.Sprint(c.Channels[sms.Name].(sms.Config).Enabled()), "false"},
		{"migrate", c.DB.Mode, "auto"},
		{"migrations", c.DB.Migrations.Service, "notifier"},
		{"retention", c.StatusRetention.String(), "168h0m0s"},
		{"longest channel timeout", c.Channels.MaxTimeout().String(), "30s"},
		{"status topic", c.StatusTopic, "NotificationStatus"},
		{"max attempts", fmt.Sprint(c.MaxAttempts), "12"},
		{"max age", c.MaxAge.String(), "24h0m0s"},
		{"breaker", fmt.Sprint(c.Breaker.Failures, c.Breaker.OpenFor), "5 10s"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadConfigProblems(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HERALD_SMTP_TLS": "maybe"}, "HERALD_SMTP_TLS"},
		{map[string]string{"HERALD_SMTP_ADDR": "nohost"}, "HERALD_SMTP_ADDR"},
		{map[string]string{"HERALD_MAIL_FROM": "@@"}, "HERALD_MAIL_FROM"},
		{map[string]string{"HERALD_SMTP_PASSWORD": "secret"}, "HERALD_SMTP_PASSWORD"},
		{map[string]string{"HERALD_DELIVERY_LEASE": "10s"}, "HERALD_DELIVERY_LEASE"},
		{map[string]string{"HERALD_DELIVERY_BACKOFF_BASE": "10m"}, "HERALD_DELIVERY_BACKOFF"},
		{map[string]string{"HERALD_DB_DRIVER": "mysql"}, "HERALD_DB_DRIVER"},
		{map[string]string{"HERALD_DB_DRIVER": "postgres"}, "HERALD_DB_DSN"},
		{map[string]string{"HERALD_DELIVERY_MAX_ATTEMPTS": "0"}, "HERALD_DELIVERY_MAX_ATTEMPTS"},
		{map[string]string{"HERALD_DELIVERY_MAX_AGE": "0s"}, "HERALD_DELIVERY_MAX_AGE"},
		{map[string]string{"HERALD_USERS_BREAKER_FAILURES": "0"}, "HERALD_USERS_BREAKER_FAILURES"},
		{map[string]string{"HERALD_DB_MIGRATE": "always"}, "HERALD_DB_MIGRATE"},
		{map[string]string{"HERALD_STATUS_RETENTION": "0s"}, "HERALD_STATUS_RETENTION"},
		// The lease must outlast every channel's timeout, not only SMTP's.
		{map[string]string{"HERALD_SMTP_TIMEOUT": "3m"}, "HERALD_DELIVERY_LEASE"},
		{map[string]string{"HERALD_SMS_TIMEOUT": "3m"}, "HERALD_DELIVERY_LEASE"},
		{map[string]string{"HERALD_WEBHOOK_TIMEOUT": "3m"}, "HERALD_DELIVERY_LEASE"},
	}
	for _, tc := range tests {
		v := config.New(func(k string) string { return tc.env[k] })
		_ = LoadConfig(v)
		err := v.Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: err = %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}

// Each channel variable is declared once, by its channel package: a bad
// value is reported once, not once per declaration.
func TestChannelVariablesDeclaredOnce(t *testing.T) {
	env := map[string]string{"HERALD_SMTP_TLS": "maybe", "HERALD_MAIL_FROM": "@@"}
	v := config.New(func(k string) string { return env[k] })
	_ = LoadConfig(v)
	for name := range env {
		if n := strings.Count(v.Err().Error(), name+":"); n != 1 {
			t.Errorf("%s reported %d times, want once: %v", name, n, v.Err())
		}
	}
}

// The timeout defaults have one source, the channel packages: a zero
// timeout in Channels counts as what the channel's LoadConfig declares; a
// channel missing from Channels sends nothing and has no timeout.
func TestMaxTimeoutUsesChannelDefaults(t *testing.T) {
	declared := LoadChannels(config.New(nil))
	de, ds, dw := declared[email.Name].(email.Config), declared[sms.Name].(sms.Config), declared[webhook.Name].(webhook.Config)
	if de.Timeout != email.DefaultTimeout || ds.Timeout != sms.DefaultTimeout || dw.Timeout != webhook.DefaultTimeout {
		t.Errorf("declared defaults email %v sms %v webhook %v, want %v, %v and %v", de.Timeout, ds.Timeout, dw.Timeout,
			email.DefaultTimeout, sms.DefaultTimeout, webhook.DefaultTimeout)
	}
	longest := max(de.Timeout, ds.Timeout, dw.Timeout)
	// all builds Channels with the three channels' configurations.
	all := func(e email.Config, s sms.Config, w webhook.Config) Channels {
		return Channels{email.Name: e, sms.Name: s, webhook.Name: w}
	}
	tests := []struct {
		name string
		c    Channels
		want time.Duration
	}{
		{"no channel configured", Channels{}, 0},
		{"all zero: the longest default", all(email.Config{}, sms.Config{}, webhook.Config{}), longest},
		{"declared defaults", declared, longest},
		{"zero email, others short", all(email.Config{}, sms.Config{Timeout: time.Second}, webhook.Config{Timeout: time.Second}), de.Timeout},
		{"long sms", Channels{sms.Name: sms.Config{Timeout: 5 * time.Minute}}, 5 * time.Minute},
		{"long webhook", Channels{webhook.Name: webhook.Config{Timeout: 4 * time.Minute}}, 4 * time.Minute},
		{"long email", Channels{email.Name: email.Config{Timeout: 3 * time.Minute}}, 3 * time.Minute},
		{"all short", all(email.Config{Timeout: time.Second}, sms.Config{Timeout: 2 * time.Second}, webhook.Config{Timeout: 3 * time.Second}), 3 * time.Second},
		{"negative counts as default", all(email.Config{Timeout: time.Second}, sms.Config{Timeout: -time.Second}, webhook.Config{Timeout: time.Second}), sms.DefaultTimeout},
	}
	for _, tc := range tests {
		if got := tc.c.MaxTimeout(); got != tc.want {
			t.Errorf("%s: MaxTimeout = %v, want %v", tc.name, got, tc.want)
		}
	}
}
