package testenv

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// Served is a service's Run running in this process for one test (Serve).
type Served struct {
	// Addr is the address the service listens on (it reported it through
	// its Deps.Ready).
	Addr net.Addr

	t      testing.TB
	name   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// URL is the http URL of path on the service ("/graphql", "/healthz").
func (s *Served) URL(path string) string { return "http://" + s.Addr.String() + path }

// Serve runs a service's Run in the background and returns once it serves.
// run gets the context that stops it and the callback to pass as its
// Deps.Ready. A Run that returns before it serves fails t; so does one that
// does not end cleanly (nil) when stopped: by Stop, or when t ends.
func Serve(t testing.TB, name string, run func(ctx context.Context, ready func(net.Addr)) error) *Served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Served{t: t, name: name, cancel: cancel, done: make(chan error, 1)}
	addrc := make(chan net.Addr, 1)
	go func() { s.done <- run(ctx, func(a net.Addr) { addrc <- a }) }()
	t.Cleanup(s.Stop)
	select {
	case s.Addr = <-addrc:
		return s
	case err := <-s.done:
		s.once.Do(func() {}) // it has stopped already: nothing for Stop to wait for
		t.Fatalf("%s stopped before it served: %v", name, err)
	case <-time.After(time.Minute):
		t.Fatalf("%s did not serve within a minute", name)
	}
	return nil
}

// Stop ends the service's context and waits for Run to return; an error,
// or no return within a minute, fails the test. Later calls do nothing.
func (s *Served) Stop() {
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("%s: Run returned %v when stopped, want nil", s.name, err)
			}
		case <-time.After(time.Minute):
			s.t.Errorf("%s: Run did not return within a minute of being stopped", s.name)
		}
	})
}
