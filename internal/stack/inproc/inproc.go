// Package inproc runs the services of the stack table (internal/stack) in
// this process: the development stack (cmd/herald) and e2e/federation. Each
// service of the table has its in-process form here, keyed by its name; a
// test checks that the two lists agree.
package inproc

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/notifier"
	"github.com/heraldhq/herald/router"
	"github.com/heraldhq/herald/subgraphs/orders"
	"github.com/heraldhq/herald/subgraphs/users"
)

// Deps are what a service shares with the others in one process.
type Deps struct {
	Logger *slog.Logger
	Broker stream.Broker
	// Ready, when set, receives the bound HTTP address once the service
	// serves (the address matters for ":0").
	Ready func(net.Addr)
}

// Part is one service of the table, configured and ready to run.
type Part struct {
	Service stack.Service
	// Config points at the loaded configuration (*users.Config,
	// *router.Config, …): a caller may adjust it before Run.
	Config any
	// Run serves the service until ctx ends.
	Run func(ctx context.Context, d Deps) error
}

// load reads a service's configuration from v and returns it with its run
// function, which reads the configuration when it starts.
type load func(v *config.Vars) (cfg any, run func(context.Context, Deps) error)

// part is the in-process form of a service whose configuration is a C.
func part[C any](loadConfig func(*config.Vars) C, run func(context.Context, C, Deps) error) load {
	return func(v *config.Vars) (any, func(context.Context, Deps) error) {
		cfg := loadConfig(v)
		return &cfg, func(ctx context.Context, d Deps) error { return run(ctx, cfg, d) }
	}
}

// parts holds the in-process form of every service of the table.
var parts = map[string]load{
	"users": part(users.LoadConfig, func(ctx context.Context, cfg users.Config, d Deps) error {
		return users.Run(ctx, cfg, users.Deps{Logger: d.Logger, Broker: d.Broker, Ready: d.Ready})
	}),
	"orders": part(orders.LoadConfig, func(ctx context.Context, cfg orders.Config, d Deps) error {
		return orders.Run(ctx, cfg, orders.Deps{Logger: d.Logger, Broker: d.Broker, Ready: d.Ready})
	}),
	// LoadConfig reads the channels too (HERALD_SMTP_*, HERALD_SMS_*,
	// HERALD_WEBHOOK_*); Run builds their senders (and closes them).
	"notifier": part(notifier.LoadConfig, func(ctx context.Context, cfg notifier.Config, d Deps) error {
		return notifier.Run(ctx, cfg, notifier.Deps{Logger: d.Logger, Broker: d.Broker, HTTPReady: d.Ready})
	}),
	"router": part(router.LoadConfig, func(ctx context.Context, cfg router.Config, d Deps) error {
		return router.Run(ctx, cfg, router.Deps{Logger: d.Logger, Broker: d.Broker, Ready: d.Ready})
	}),
}

// Load reads the configuration of the table's service name from v; problems
// collect in v (v.Err), as the services' LoadConfig functions do.
func Load(name string, v *config.Vars) (Part, error) {
	svc, ok := stack.Lookup(name)
	l := parts[name]
	if !ok || l == nil {
		return Part{}, fmt.Errorf("no in-process service %q in the stack table", name)
	}
	cfg, run := l(v)
	return Part{Service: svc, Config: cfg, Run: run}, nil
}

// Running is services started by Start.
type Running struct {
	// Wiring is the wiring Start was given, with every started service's
	// bound address.
	Wiring stack.Wiring
	done   chan error
	n      int
}

// Wait waits until every started service has returned (after ctx ends)
// and returns the first error.
func (r *Running) Wait() error {
	var first error
	for range r.n {
		if err := <-r.done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Start runs the named services of the table in this process, in table
// order, each configured from w (its Wiring.Env) and started once those
// before it report their bound address, which the ones after it are then
// wired to: w.Addr may say "127.0.0.1:0". A service that fails before it is
// ready ends Start with its error; the ones already running stop with ctx.
func Start(ctx context.Context, w stack.Wiring, names []string, d Deps) (*Running, error) {
	r := &Running{Wiring: w.WithOwnAddrs(), done: make(chan error, len(names))}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, svc := range stack.Services {
		if !want[svc.Name] {
			continue
		}
		env := r.Wiring.Env(svc.Name)
		v := config.New(func(k string) string { return env[k] })
		part, err := Load(svc.Name, v)
		if err == nil {
			err = v.Err()
		}
		if err != nil {
			return r, fmt.Errorf("%s: %w", svc.Name, err)
		}
		ready := make(chan net.Addr, 1)
		failed := make(chan error, 1)
		r.n++
		go func() {
			deps := d
			deps.Ready = func(a net.Addr) { ready <- a }
			err := part.Run(ctx, deps)
			if err != nil {
				err = fmt.Errorf("%s: %w", svc.Name, err)
			}
			failed <- err
			r.done <- err
		}()
		select {
		case a := <-ready:
			r.Wiring.Addr[svc.Name] = a.String()
		case err := <-failed:
			if err == nil {
				err = fmt.Errorf("%s: stopped before it was ready", svc.Name)
			}
			return r, err
		}
	}
	return r, nil
}
