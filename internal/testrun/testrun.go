// Package testrun runs a service's Run function in-process for a test: in a
// goroutine, until the test ends, with the address it reports once it
// listens. Tests that start a service as a process use testenv.StartProc.
package testrun

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testwait"
)

// Run is one running call of a service's Run function.
type Run struct {
	name     string
	addr     net.Addr
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // run's result, set before done closes
	stopOnce sync.Once
}

// Start calls run in a goroutine with a context that Stop cancels, and
// returns once run has called ready (its Deps.Ready) with the address it
// listens on. It fails the test when run returns first or does not call
// ready within testwait.Patience. The test's cleanup calls Stop; name
// ("router") names the service in failures.
func Start(t testing.TB, name string, run func(ctx context.Context, ready func(net.Addr)) error) *Run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Run{name: name, cancel: cancel, done: make(chan struct{})}
	addrs := make(chan net.Addr, 1)
	go func() {
		defer close(r.done)
		r.err = run(ctx, func(a net.Addr) {
			select {
			case addrs <- a:
			default: // only the first address is waited for
			}
		})
	}()
	t.Cleanup(func() { r.Stop(t) })
	select {
	case r.addr = <-addrs:
		return r
	case <-r.done:
		r.stopOnce.Do(cancel) // nothing left to stop; report the error once
		t.Fatalf("%s stopped before listening: %v", name, r.err)
	case <-time.After(testwait.Patience):
		t.Fatalf("%s did not listen within %s", name, testwait.Patience)
	}
	return nil
}

// Addr is the address run reported ready.
func (r *Run) Addr() net.Addr { return r.addr }

// URL is the service's base URL: http:// and Addr.
func (r *Run) URL() string { return "http://" + r.addr.String() }

// Done is closed when run has returned; Err is then its result.
func (r *Run) Done() <-chan struct{} { return r.done }

// Err is what run returned, once Done is closed.
func (r *Run) Err() error { return r.err }

// Stop cancels run's context and waits for it to return. An error from run
// fails the test, and so does run not returning within testwait.Patience,
// with every goroutine's stack to show where it hangs. Later calls do
// nothing, so a test may stop the service before its cleanup does.
func (r *Run) Stop(t testing.TB) {
	t.Helper()
	r.stopOnce.Do(func() {
		r.cancel()
		select {
		case <-r.done:
			if r.err != nil {
				t.Errorf("%s: Run: %v", r.name, r.err)
			}
		case <-time.After(testwait.Patience):
			t.Errorf("%s did not stop within %s; goroutines:\n%s", r.name, testwait.Patience, allStacks())
		}
	})
}

// allStacks returns the stacks of all goroutines.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
