// Package netguardtest helps tests prove that a refused dial never reached
// its target.
package netguardtest

import (
	"net"
	"testing"
)

// NothingArrived dials a marker connection to ln and requires it to be the
// first ln accepts: anything dialled before it (a refused dial or send that
// got through after all) would be queued ahead of it.
func NothingArrived(t testing.TB, ln net.Listener) {
	t.Helper()
	marker, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	got, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.RemoteAddr().String() != marker.LocalAddr().String() {
		t.Fatalf("the listener accepted %s before the marker %s: a refused dial reached it", got.RemoteAddr(), marker.LocalAddr())
	}
}
