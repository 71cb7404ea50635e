package router

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/router/subscription"
)

// ReloadConfig makes a running router pick up a changed composition: a
// subgraph that deployed a new schema, or a new committed supergraph file.
//
// A reload re-reads what start-up read (every subgraph's _service SDL, or
// the RouterConfigPath file), and only when that input changed composes it,
// builds a new engine and swaps it in atomically. Requests and
// subscriptions already running finish on the engine they started with, which
// is released after them; new requests see the new composition. A reload that fails (a subgraph unreachable, a composition
// error) keeps the current engine and logs why, naming the subgraph and,
// for composition errors, the type or field at fault.
type ReloadConfig struct {
	// Interval polls for changes this often; zero disables polling.
	Interval time.Duration
	// Trigger, when not nil, asks for a reload on every receive (main
	// sends on SIGHUP: see NotifyReload).
	Trigger <-chan struct{}
}

// LoadReloadConfig declares HERALD_ROUTER_RELOAD_INTERVAL.
func LoadReloadConfig(v *config.Vars) ReloadConfig {
	c := ReloadConfig{
		Interval: v.Duration("HERALD_ROUTER_RELOAD_INTERVAL", 0,
			"poll the subgraphs' SDL (or HERALD_ROUTER_CONFIG) this often and swap in a changed composition without dropping requests; 0 disables polling (SIGHUP still reloads), e.g. 30s"),
	}
	v.Check(c.Interval >= 0, "HERALD_ROUTER_RELOAD_INTERVAL: must not be negative")
	return c
}

// NotifyReload returns a channel that receives once per SIGHUP until ctx
// ends, for ReloadConfig.Trigger. Signals are process-wide, so only main
// should call it.
func NotifyReload(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default: // a reload is already pending
				}
			}
		}
	}()
	return out
}

// reloader re-composes in one goroutine; rounds never overlap.
type reloader struct {
	cfg    Config
	h      *handler
	client *http.Client
	hub    *subscription.Hub
	logger *slog.Logger
	// engineCtx bounds the engines the reloader installs (see Run); nil
	// means the context of the round.
	engineCtx context.Context
	// last fingerprints the input of the last round that composed (or
	// failed to compose); empty until the first round, which always swaps,
	// so a change between start-up and the first round cannot be missed.
	last [sha256.Size]byte
	done bool
}

// watchSupergraph starts reloading as rc asks (nothing when it asks for
// nothing) and returns the function that stops it and waits. Rounds stop
// with ctx; the engines they install live until engineCtx ends.
func watchSupergraph(ctx, engineCtx context.Context, cfg Config, rc ReloadConfig, h *handler, client *http.Client, hub *subscription.Hub, logger *slog.Logger) (stop func()) {
	if rc.Interval <= 0 && rc.Trigger == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &reloader{cfg: cfg, h: h, client: client, hub: hub, logger: logger, engineCtx: engineCtx}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var tick <-chan time.Time
		if rc.Interval > 0 {
			t := time.NewTicker(rc.Interval)
			defer t.Stop()
			tick = t.C
		}
		logger.Info("supergraph reload enabled", "interval", rc.Interval.String(), "on_signal", rc.Trigger != nil)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
			case <-rc.Trigger:
			}
			r.reload(ctx)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// reload runs one round and reports whether a new engine was swapped in.
func (r *reloader) reload(ctx context.Context) bool {
	start := time.Now()
	rc, fp, err := r.load(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Error("supergraph reload failed: keeping the current supergraph", "err", err)
		}
		return false
	}
	if rc == nil {
		return false // unchanged, or a failure already logged for this input
	}
	// Requests and subscriptions that started on the old engine keep it
	// until they finish; then it stops (installEngine retires it).
	engineCtx := r.engineCtx
	if engineCtx == nil {
		engineCtx = ctx
	}
	if err := installEngine(engineCtx, r.cfg, r.h, rc, r.client, r.hub); err != nil {
		r.logger.Error("supergraph reload failed: keeping the current supergraph", "err", err)
		return false
	}
	r.last, r.done = fp, true
	r.logger.Info("supergraph reloaded", "subgraphs", subgraphNames(r.cfg.Subgraphs), "took", time.Since(start).String())
	return true
}

// load reads the current input and composes it when it changed since the
// last round. It returns a nil config when there is nothing to install.
func (r *reloader) load(ctx context.Context) (*nodev1.RouterConfig, [sha256.Size]byte, error) {
	in, err := readSupergraphInput(r.cfg, func(remote []Subgraph) ([]Subgraph, error) {
		// One attempt each: a subgraph that does not answer now is
		// asked again next round.
		for i, sg := range remote {
			fctx, cancel := context.WithTimeout(ctx, r.cfg.SubgraphTimeout)
			sdl, err := FetchSDL(fctx, r.client, sg)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("subgraph %s (%s) did not serve its SDL: %w", sg.Name, sg.URL, err)
			}
			remote[i].SDL = sdl
		}
		return remote, nil
	})
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	fp := in.fingerprint
	if r.done && fp == r.last {
		return nil, fp, nil
	}
	rc, err := in.routerConfig(ctx, r.cfg)
	if err != nil {
		var ce *CompositionError
		if in.subgraphs == nil || errors.As(err, &ce) {
			// The same broken input is not parsed or composed (nor
			// logged) again until it changes: the file's content, or a
			// subgraph's SDL.
			r.last, r.done = fp, true
		}
		return nil, fp, err
	}
	return rc, fp, nil
}
