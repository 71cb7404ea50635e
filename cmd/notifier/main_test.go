package main

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

func TestRunHelpAndConfig(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{"help lists the variables", []string{"--help"}, nil, 0,
			[]string{"HERALD_SMTP_TLS", "HERALD_SMTP_CA_FILE", "HERALD_TOPIC_ORDER_CREATED", "HERALD_NOTIFIER_GROUP", "HERALD_USERS_URL", "HERALD_MAIL_FROM", ":4003", "starttls-required"}},
		{"all problems reported together", nil, map[string]string{
			"HERALD_SMTP_TLS":         "sometimes",
			"HERALD_MAIL_FROM":        "not an address",
			"HERALD_DELIVERY_WORKERS": "many",
		}, 2, []string{"HERALD_SMTP_TLS", "HERALD_MAIL_FROM", "HERALD_DELIVERY_WORKERS"}},
		{"help names the new variables and the dlq subcommand", []string{"--help"}, nil, 0,
			[]string{"HERALD_TOPIC_NOTIFICATION_STATUS", "HERALD_DELIVERY_MAX_ATTEMPTS", "HERALD_DELIVERY_MAX_AGE", "HERALD_USERS_BREAKER_OPEN", "dlq replay"}},
		{"dlq replay help lists its flags", []string{"dlq", "replay", "-h"}, nil, 0, []string{"-limit", "-topic", "-idle", "HERALD_KAFKA_BROKERS"}},
		{"dlq without replay", []string{"dlq"}, nil, 2, []string{"usage: notifier dlq replay"}},
		{"dlq replay bad flag", []string{"dlq", "replay", "-limit", "x"}, nil, 2, []string{"invalid value"}},
		{"unknown argument", []string{"serve"}, nil, 2, []string{"unknown arguments"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// With the default configuration main wires email and webhook senders; SMS
// stays off until a provider is configured.
func TestSendersFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"defaults", nil, []string{"email", "webhook"}},
		{"sms provider configured", map[string]string{
			"HERALD_SMS_BASE_URL": "https://sms.invalid", "HERALD_SMS_ACCOUNT_ID": "AC1", "HERALD_SMS_AUTH_TOKEN": "t", "HERALD_SMS_FROM": "+15005550006",
		}, []string{"email", "sms", "webhook"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := config.New(func(k string) string { return tc.env[k] })
			ch := channelConfig{Email: email.LoadConfig(v), SMS: sms.LoadConfig(v), Webhook: webhook.LoadConfig(v)}
			if err := v.Err(); err != nil {
				t.Fatal(err)
			}
			got, err := ch.senders(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			names := slices.Sorted(maps.Keys(got))
			if !slices.Equal(names, tc.want) {
				t.Errorf("senders = %v, want %v", names, tc.want)
			}
		})
	}
}
