// Package stack is the one table of Herald's services: their names (and so
// their binaries, cmd/<name>), their start order, their health and
// readiness paths, and how each one's environment follows from the shared
// infrastructure and the other services' addresses.
//
// Every way of starting Herald reads it: the end-to-end tests (e2e) and the
// pipeline benchmark (bench/pipeline) start its services as processes
// through internal/testenv's launcher; the development stack (cmd/herald)
// and e2e/federation run them in one process through stack/inproc. Adding a
// service means adding its entry here (and its in-process part in
// stack/inproc): docs/architecture.md, "Adding a service to the stack".
//
// The package imports nothing of the services, so that internal/testenv,
// whose helpers the services' own tests use, can read it.
package stack

import (
	"maps"
	"strings"
)

// Service is one entry of the table.
type Service struct {
	// Name is the service's name and its binary's (cmd/<Name>).
	Name string
	// Needs are the services it calls from start-up on; they are started,
	// and healthy, before it.
	Needs []string
	// Health answers 200 once the service serves; Ready once it also does
	// its background work (the notifier: consuming). Both are paths of its
	// HTTP listener (HERALD_HTTP_ADDR).
	Health, Ready string
	// Database: the service owns a database (HERALD_DB_DSN from
	// Wiring.DSN).
	Database bool
	// Env is the service's own variables, derived from w. The variables
	// every service shares (stream, topics, database driver, secret) and
	// its listen address and database are added by Wiring.Env.
	Env func(w Wiring) map[string]string
}

// Services is the table, in start order: each service's Needs come before
// it.
var Services = []Service{
	{Name: "users", Health: "/healthz", Ready: "/healthz", Database: true,
		Env: func(w Wiring) map[string]string {
			return w.instance("users")
		}},
	{Name: "orders", Needs: []string{"users"}, Health: "/healthz", Ready: "/healthz", Database: true,
		Env: func(w Wiring) map[string]string {
			return map[string]string{"HERALD_USERS_URL": w.GraphQL("users")}
		}},
	{Name: "notifier", Needs: []string{"users"}, Health: "/healthz", Ready: "/readyz", Database: true,
		Env: func(w Wiring) map[string]string {
			env := w.instance("notifier")
			env["HERALD_USERS_URL"] = w.GraphQL("users")
			env["HERALD_SMTP_ADDR"] = w.SMTP.Addr
			env["HERALD_SMTP_TLS"] = w.SMTP.TLS
			env["HERALD_SMTP_CA_FILE"] = w.SMTP.CAFile
			return env
		}},
	{Name: "router", Needs: []string{"users", "orders"}, Health: "/healthz", Ready: "/healthz",
		Env: func(w Wiring) map[string]string {
			subgraphs := "users=" + w.GraphQL("users") + ",orders=" + w.GraphQL("orders")
			if w.Statuses {
				subgraphs += ",notifications=builtin"
			}
			env := maps.Clone(w.Auth)
			if env == nil {
				env = map[string]string{}
			}
			env["HERALD_SUBGRAPHS"] = subgraphs
			return env
		}},
}

// Lookup returns the table's entry for name.
func Lookup(name string) (Service, bool) {
	for _, s := range Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Names lists the table's services in start order.
func Names() []string {
	out := make([]string, len(Services))
	for i, s := range Services {
		out[i] = s.Name
	}
	return out
}

// SMTP is the relay the notifier sends email to.
type SMTP struct {
	Addr   string // host:port
	TLS    string // HERALD_SMTP_TLS: starttls-required, none, …
	CAFile string // PEM file of the CA that signed the relay's certificate ("" for the system's)
}

// Wiring is what one stack shares: its infrastructure's endpoints and its
// services' addresses. Empty fields leave the services' own defaults.
type Wiring struct {
	// Addr is service → host:port it listens on (HERALD_HTTP_ADDR), and
	// where the others reach it.
	Addr map[string]string
	// DSN is service → its database (HERALD_DB_DSN); DBDriver is
	// HERALD_DB_DRIVER for all of them.
	DSN      map[string]string
	DBDriver string
	// Stream holds HERALD_STREAM and its backend's variables
	// (HERALD_KAFKA_BROKERS or HERALD_NATS_URL, …).
	Stream map[string]string
	// Name, when set, names the stack's topics and consumer groups
	// (<Name>.OrderCreated, <Name>-notifier, …) so that stacks sharing a
	// broker do not meet.
	Name string
	// StaticMembers gives users and the notifier a stream instance id of
	// their own (<Name>-<service>-1), as compose.yaml does: a restarted
	// consumer resumes its partitions at once.
	StaticMembers bool
	// SubgraphSecret is HERALD_SUBGRAPH_SECRET for every service.
	SubgraphSecret string
	SMTP           SMTP
	// Auth is the router's identity provider settings (HERALD_AUTH_*).
	Auth map[string]string
	// Statuses adds the router's built-in notification status subgraph
	// (the notificationStatus subscription).
	Statuses bool
	// Common is added to every service; Extra is service → variables,
	// applied last ("*" for every service).
	Common map[string]string
	Extra  map[string]map[string]string
}

// WithOwnAddrs is w with a copy of its Addr map (never nil), for a
// launcher that records the addresses its services bind.
func (w Wiring) WithOwnAddrs() Wiring {
	w.Addr = maps.Clone(w.Addr)
	if w.Addr == nil {
		w.Addr = map[string]string{}
	}
	return w
}

// GraphQL is the GraphQL endpoint of a service of the stack.
func (w Wiring) GraphQL(name string) string { return BaseURL(w.Addr[name]) + "/graphql" }

// BaseURL is the http URL of a listen address (":4000" listens on every
// interface; loopback reaches it).
func BaseURL(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "http://127.0.0.1" + addr
	}
	return "http://" + addr
}

func (w Wiring) instance(name string) map[string]string {
	if !w.StaticMembers || w.Name == "" {
		return map[string]string{}
	}
	return map[string]string{"HERALD_STREAM_INSTANCE_ID": w.Name + "-" + name + "-1"}
}

// Env is the complete HERALD_* environment of the service name: what every
// service shares, the entry's own variables, its address and database,
// then Common and Extra. Variables with empty values are left out, so the
// service's default holds.
func (w Wiring) Env(name string) map[string]string {
	svc, ok := Lookup(name)
	if !ok {
		return nil
	}
	env := map[string]string{"HERALD_DB_DRIVER": w.DBDriver, "HERALD_SUBGRAPH_SECRET": w.SubgraphSecret}
	if w.Name != "" {
		env["HERALD_TOPIC_ORDER_CREATED"] = w.Name + ".OrderCreated"
		env["HERALD_TOPIC_ORDER_CANCELLED"] = w.Name + ".OrderCancelled"
		env["HERALD_TOPIC_NOTIFICATION_STATUS"] = w.Name + ".NotificationStatus"
		env["HERALD_NOTIFIER_GROUP"] = w.Name + "-notifier"
		env["HERALD_USERS_GROUP"] = w.Name + "-users"
	}
	maps.Copy(env, w.Stream)
	maps.Copy(env, svc.Env(w))
	env["HERALD_HTTP_ADDR"] = w.Addr[name]
	if svc.Database {
		env["HERALD_DB_DSN"] = w.DSN[name]
	}
	maps.Copy(env, w.Common)
	maps.Copy(env, w.Extra["*"])
	maps.Copy(env, w.Extra[name])
	maps.DeleteFunc(env, func(_, v string) bool { return v == "" })
	return env
}
