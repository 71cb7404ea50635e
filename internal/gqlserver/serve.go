package gqlserver

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/startup"
	"github.com/heraldhq/herald/internal/subgraphauth"
)

// Server is a subgraph's HTTP server from the first moment of its start-up:
// until Ready it answers /healthz from the start-up status (the database
// check, with the reason while it waits) and 503 elsewhere; Ready swaps in
// the full handler.
type Server struct {
	sw    *httpserver.Switch
	bound *httpserver.Bound
	done  chan error
}

// Serve listens on addr and serves behind the subgraph edge (Limit, then
// the router's secret, then the caller's identity). cancel is called when the server ends, so that a
// server that could not listen ends the start-up too.
func Serve(ctx context.Context, cancel context.CancelFunc, logger *slog.Logger, addr, secret string, e Edge, st *startup.Status) *Server {
	s := &Server{
		sw: httpserver.NewSwitch(httpserver.Starting(map[string]http.Handler{
			"/healthz": httpserver.Health(map[string]func(context.Context) error{"database": st.Check("database", nil)}),
		})),
		bound: &httpserver.Bound{},
		done:  make(chan error, 1),
	}
	go func() {
		// The caller's identity headers are read only behind the check of
		// the router's secret: nobody else can claim an identity.
		err := httpserver.Serve(ctx, logger, addr, Limit(e, subgraphauth.Require(secret, identity.Middleware(s.sw))), s.bound.Listening)
		cancel()
		s.done <- err
	}()
	return s
}

// Ready serves h from now on. ready (may be nil) hears of the address once
// the full handler serves: callers may send work at once.
func (s *Server) Ready(h http.Handler, ready func(net.Addr)) {
	s.sw.Set(h)
	s.bound.Ready(ready)
}

// Done receives what the server ended with (nil after a graceful stop).
func (s *Server) Done() <-chan error { return s.done }
