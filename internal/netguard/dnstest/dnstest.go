// Package dnstest runs a tiny DNS server over UDP on 127.0.0.1 for tests,
// answering the A and AAAA records it is given, and a net.Resolver that asks
// only it. Tests use it to make a public-looking name resolve to loopback or
// a private address, the way a hostile DNS zone would, and check with a
// Target that nothing reached the loopback listener behind it.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Resolver serves records (name → addresses; names without the root dot,
// any case) until the test ends and returns a resolver using that server.
// Other names answer NXDOMAIN.
func Resolver(t testing.TB, records map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	recs := map[string][]netip.Addr{}
	for k, v := range records {
		recs[strings.ToLower(strings.TrimSuffix(k, "."))] = v
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed at cleanup
			}
			if out, ok := answer(buf[:n], recs); ok {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	addr := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}

func answer(req []byte, recs map[string][]netip.Addr) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	addrs, known := recs[name]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			_ = b.AResource(rr, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			_ = b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// Target is a listener on 127.0.0.1 that a guarded dial must never reach:
// tests make names resolve to it, send, then call NothingArrived.
type Target struct {
	Addr string // 127.0.0.1:port
	Port string
	ln   net.Listener
}

// NewTarget listens on a free loopback port until the test ends.
func NewTarget(t testing.TB) *Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &Target{Addr: ln.Addr().String(), Port: port, ln: ln}
}

// NothingArrived dials a marker connection and requires it to be the first
// the listener accepts: a guarded dial that got through would be queued
// ahead of it.
func (x *Target) NothingArrived(t testing.TB) {
	t.Helper()
	marker, err := net.Dial("tcp", x.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	got, err := x.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.RemoteAddr().String() != marker.LocalAddr().String() {
		t.Fatalf("the listener accepted %s before the marker %s: a guarded dial reached it", got.RemoteAddr(), marker.LocalAddr())
	}
}
