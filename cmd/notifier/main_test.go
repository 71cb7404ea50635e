package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
