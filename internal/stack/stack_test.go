package stack

import "testing"

// The table is in start order, and what each service needs is in it.
func TestTableOrder(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Services {
		if s.Name == "" || s.Health == "" || s.Ready == "" || s.Env == nil {
			t.Errorf("%+v: name, health, ready and env are required", s)
		}
		for _, n := range s.Needs {
			if !seen[n] {
				t.Errorf("%s needs %s, which is not before it in the table", s.Name, n)
			}
		}
		seen[s.Name] = true
	}
}

func TestWiringEnv(t *testing.T) {
	w := Wiring{
		Addr:          map[string]string{"users": "127.0.0.1:1", "orders": "127.0.0.1:2", "notifier": "127.0.0.1:3", "router": ":4"},
		DSN:           map[string]string{"users": "u", "orders": "o", "notifier": "n"},
		Name:          "run1",
		StaticMembers: true,
		SMTP:          SMTP{Addr: "127.0.0.1:25", TLS: "none"},
		Statuses:      true,
		Extra:         map[string]map[string]string{"*": {"HERALD_LOG_LEVEL": "debug"}, "router": {"HERALD_ROUTER_RATE_LIMIT": "0"}, "users": {"HERALD_STREAM_INSTANCE_ID": ""}},
	}
	for _, tt := range []struct {
		service, key, want string
	}{
		{"orders", "HERALD_USERS_URL", "http://127.0.0.1:1/graphql"},
		{"orders", "HERALD_DB_DSN", "o"},
		{"orders", "HERALD_TOPIC_ORDER_CREATED", "run1.OrderCreated"},
		{"notifier", "HERALD_STREAM_INSTANCE_ID", "run1-notifier-1"},
		{"notifier", "HERALD_SMTP_TLS", "none"},
		{"notifier", "HERALD_SMTP_CA_FILE", ""},
		{"users", "HERALD_STREAM_INSTANCE_ID", ""}, // an empty override leaves the default
		{"router", "HERALD_SUBGRAPHS", "users=http://127.0.0.1:1/graphql,orders=http://127.0.0.1:2/graphql,notifications=builtin"},
		{"router", "HERALD_HTTP_ADDR", ":4"},
		{"router", "HERALD_DB_DSN", ""},
		{"router", "HERALD_ROUTER_RATE_LIMIT", "0"},
		{"users", "HERALD_LOG_LEVEL", "debug"},
	} {
		env := w.Env(tt.service)
		if got, ok := env[tt.key]; got != tt.want || (tt.want == "" && ok) {
			t.Errorf("%s %s = %q (set %v), want %q", tt.service, tt.key, got, ok, tt.want)
		}
	}
}
