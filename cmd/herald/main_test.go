package main

import (
	"testing"

	"github.com/heraldhq/herald/internal/service/servicetest"
)

// The all-in-one binary reads each service's variables through the same
// LoadConfig as its own binary: --help lists them and an invalid value is
// reported with the others (exit 2) before anything starts.
func TestRunHelpAndConfig(t *testing.T) {
	servicetest.Run(t, run, []servicetest.Case{
		{Name: "help lists both secret keys", Args: []string{"--help"},
			Out: []string{"HERALD_NOTIFIER_SECRET_KEY", "HERALD_USERS_SECRET_KEY"}},
		{Name: "invalid keys reported together", Env: map[string]string{
			"HERALD_NOTIFIER_SECRET_KEY": "short",
			"HERALD_USERS_SECRET_KEY":    "also short",
		}, Code: 2, Out: []string{"HERALD_NOTIFIER_SECRET_KEY: must be", "HERALD_USERS_SECRET_KEY: must be"}},
		{Name: "per-service form", Env: map[string]string{"HERALD_NOTIFIER_NOTIFIER_SECRET_KEY": "short"}, Code: 2,
			Out: []string{"HERALD_NOTIFIER_SECRET_KEY: must be"}},
		{Name: "help lists the mail viewer", Args: []string{"--help"},
			Out: []string{"mailview", "HERALD_MAILPIT_URL", "default: 127.0.0.1:8025"}},
		{Name: "help lists the web app", Args: []string{"--help"},
			Out: []string{"webapp", "default: 127.0.0.1:8080"}},
		{Name: "mail viewer's mailpit URL checked", Env: map[string]string{"HERALD_MAILVIEW_MAILPIT_URL": "127.0.0.1:8026"}, Code: 2,
			Out: []string{"HERALD_MAILPIT_URL:"}},
	})
}

// TestHelp keeps --help (every service's variables and defaults, as the dev
// stack sets them) in testdata/help.golden; -update rewrites it.
func TestHelp(t *testing.T) { servicetest.Help(t, run) }
