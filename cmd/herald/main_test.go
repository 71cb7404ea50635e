package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

// The all-in-one binary reads each service's variables through the same
// LoadConfig as its own binary: --help lists them and an invalid value is
// reported with the others (exit 2) before anything starts.
func TestRunHelpAndConfig(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{"help lists both secret keys", []string{"--help"}, nil, 0,
			[]string{"HERALD_NOTIFIER_SECRET_KEY", "HERALD_USERS_SECRET_KEY"}},
		{"invalid keys reported together", nil, map[string]string{
			"HERALD_NOTIFIER_SECRET_KEY": "short",
			"HERALD_USERS_SECRET_KEY":    "also short",
		}, 2, []string{"HERALD_NOTIFIER_SECRET_KEY: must be", "HERALD_USERS_SECRET_KEY: must be"}},
		{"per-service form", nil, map[string]string{"HERALD_NOTIFIER_NOTIFIER_SECRET_KEY": "short"}, 2,
			[]string{"HERALD_NOTIFIER_SECRET_KEY: must be"}},
		{"help lists the mail viewer", []string{"--help"}, nil, 0,
			[]string{"mailview", "HERALD_MAILPIT_URL", "default: 127.0.0.1:8025"}},
		{"help lists the web app", []string{"--help"}, nil, 0,
			[]string{"webapp", "default: 127.0.0.1:8080"}},
		{"mail viewer's mailpit URL checked", nil, map[string]string{"HERALD_MAILVIEW_MAILPIT_URL": "127.0.0.1:8026"}, 2,
			[]string{"HERALD_MAILPIT_URL:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestHelp keeps --help (every service's variables and defaults, as the dev
// stack sets them) in testdata/help.golden; -update rewrites it.
func TestHelp(t *testing.T) { servicetest.Help(t, run) }
