// Package httpserver runs an HTTP server until its context ends, then drains
// requests in flight before returning.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Serve listens on addr and serves h until ctx is done. ready, when not nil,
// receives the bound address (useful with ":0").
func Serve(ctx context.Context, logger *slog.Logger, addr string, h http.Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	logger.Info("http listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	return nil
}

// Off is the listen address that turns an optional server off (the
// development stack's mail viewer and web app).
const Off = "off"

// Enabled reports whether addr asks for a server: neither empty nor Off.
func Enabled(addr string) bool { return addr != "" && addr != Off }

// NotReady is a check's failure with a reason fit to show in the health
// answer (a fixed text: no addresses, no raw errors).
type NotReady struct{ Reason string }

func (e *NotReady) Error() string { return "not ready: " + e.Reason }

// Health returns a /healthz handler that runs the checks in name order and
// answers 503 naming the first that fails (and its reason when the check
// returned a *NotReady). The fixed order keeps the answer
// for one state the same on every request; ranging over the map would not.
func Health(checks map[string]func(context.Context) error) http.Handler {
	names := slices.Sorted(maps.Keys(checks))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status := http.StatusOK
		body := `{"status":"ok"}`
		for _, name := range names {
			if err := checks[name](ctx); err != nil {
				status = http.StatusServiceUnavailable
				body = fmt.Sprintf(`{"status":"unavailable","check":%q}`, name)
				var nr *NotReady
				if errors.As(err, &nr) {
					body = fmt.Sprintf(`{"status":"unavailable","check":%q,"reason":%q}`, name, nr.Reason)
				}
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

// Switch is a handler that can be replaced while serving: a service answers
// health checks (not ready, and why) from its first moment and switches to
// its full handler once its dependencies are reached.
type Switch struct{ h atomic.Pointer[http.Handler] }

// NewSwitch returns a Switch serving h.
func NewSwitch(h http.Handler) *Switch {
	s := &Switch{}
	s.Set(h)
	return s
}

// Set makes h serve every request from now on.
func (s *Switch) Set(h http.Handler) { s.h.Store(&h) }

func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// Starting answers every request but GET paths in health (served by the
// given handler) with 503 and a GraphQL error coded UNAVAILABLE, for a
// service still waiting for its dependencies: clients retry, as for any
// outage.
func Starting(health map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	for path, h := range health {
		mux.Handle("GET "+path, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"errors":[{"message":"the service is starting; try again","extensions":{"code":"UNAVAILABLE"}}]}`))
	})
	return mux
}

// Bound remembers the address a server listens on, for a caller to hear of
// it later than Serve's ready callback (once the service is ready).
type Bound struct {
	mu    sync.Mutex
	addr  net.Addr
	ready func(net.Addr)
	fired bool
}

// Listening is Serve's ready callback.
func (b *Bound) Listening(a net.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addr = a
	b.fire()
}

// Ready calls f (when not nil) with the address, now if the server listens
// already, else as soon as it does.
func (b *Bound) Ready(f func(net.Addr)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready = f
	b.fire()
}

func (b *Bound) fire() {
	if b.fired || b.addr == nil || b.ready == nil {
		return
	}
	b.fired = true
	b.ready(b.addr)
}
