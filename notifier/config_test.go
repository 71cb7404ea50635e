package notifier

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
)

func TestLoadConfigDefaults(t *testing.T) {
	v := config.New(nil)
	c := LoadConfig(v)
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"http", c.HTTPAddr, ":4003"},
		{"driver", c.DBDriver, "sqlite"},
		{"dsn", c.DBDSN, ".run/notifier.db"},
		{"users", c.UsersURL, "http://127.0.0.1:4001/graphql"},
		{"topic", c.Topic, "OrderCreated"},
		{"group", c.Group, "herald-notifier"},
		{"smtp", c.SMTP.Addr, "127.0.0.1:1025"},
		{"tls", c.SMTP.TLS, "starttls-required"},
		{"from", c.SMTP.From, "Herald <notifications@herald.local>"},
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
