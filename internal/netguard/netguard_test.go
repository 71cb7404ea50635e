package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/netguard/netguardtest"
)

func TestCheck(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"100.64.0.1", "100.127.255.255", "198.18.0.1", "198.19.255.255", "169.254.169.254",
		"192.0.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
		"255.255.255.255", "0.0.0.0", "0.1.2.3", "240.0.0.1", "192.88.99.1",
		"::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1", "3fff::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::c612:1", "64:ff9b:1::808:808",
		"2002:7f00:1::1", "2002:a00:1::", "2001::1", "100::1", "fec0::1", "4000::1", "5f00::1",
	}
	for _, s := range refused {
		err := netguard.Check(netip.MustParseAddr(s), false)
		if !errors.Is(err, netguard.ErrNotAllowed) {
			t.Errorf("Check(%s) = %v, want refused", s, err)
		}
	}
	allowed := []string{"8.8.8.8", "1.1.1.1", "93.184.215.14", "100.128.0.1", "198.20.0.1", "2606:4700::1111",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"}
	for _, s := range allowed {
		if err := netguard.Check(netip.MustParseAddr(s), false); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
	// Development: loopback only, in all its forms; private stays refused.
	for _, s := range []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"} {
		if err := netguard.Check(netip.MustParseAddr(s), true); err != nil {
			t.Errorf("Check(%s, loopback allowed) = %v", s, err)
		}
	}
	for _, s := range []string{"10.0.0.1", "169.254.169.254", "0.0.0.0", "::"} {
		if err := netguard.Check(netip.MustParseAddr(s), true); err == nil {
			t.Errorf("Check(%s, loopback allowed) passed", s)
		}
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		host string
		want string // "" = a name; "bad" = ErrBadLiteral
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0x7F.0.0.1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"10.0.258", "10.0.1.2"},
		{"0", "0.0.0.0"},
		{"[::1]", "::1"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"[fe80::1%25eth0]", "fe80::1"}, // the zone is dropped: the address decides
		{"fe80::1%eth0", "fe80::1"},
		{"example.com", ""},
		{"localhost", ""},
		{"1.2.3.example", ""},
		{"0x7f.example", ""},
		{"256.0.0.1", "bad"},
		{"1.2.3.4.5", "bad"},
		{"4294967296", "bad"},
		{"1.2.65536", "bad"},
		{"08.0.0.1", "bad"},
		{"example.123", "bad"},
		{"", ""},
	}
	for _, tc := range tests {
		a, ok, err := netguard.ParseHost(tc.host)
		var got string
		switch {
		case err != nil:
			got = "bad"
		case ok:
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("ParseHost(%q) = %q (%v), want %q", tc.host, got, err, tc.want)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for _, h := range []string{"localhost", "LocalHost.", "api.localhost", "127.0.0.1", "127.1", "0x7f.1", "[::1]", "::ffff:127.0.0.1", "2130706433"} {
		if !netguard.LoopbackHost(h) {
			t.Errorf("LoopbackHost(%q) = false", h)
		}
	}
	for _, h := range []string{"", ".", "localhost.example.com", "notlocalhost", "127.0.0.1.example.com", "10.0.0.1", "0.0.0.0", "::"} {
		if netguard.LoopbackHost(h) {
			t.Errorf("LoopbackHost(%q) = true", h)
		}
	}
}

// TestDialerRefusesBeforeConnect dials a real listener on 127.0.0.1 through
// the guard: the dial fails with ErrNotAllowed and the listener's first
// accepted connection is the marker dialled afterwards, so the guarded dial
// never reached it.
func TestDialerRefusesBeforeConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = netguard.Dialer(false, nil).DialContext(context.Background(), "tcp", ln.Addr().String())
	if !errors.Is(err, netguard.ErrNotAllowed) {
		t.Fatalf("guarded dial = %v, want ErrNotAllowed", err)
	}
	netguardtest.NothingArrived(t, ln)

	// With loopback allowed the same dial connects.
	c, err := netguard.Dialer(true, nil).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	c.Close()
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"127.1", "0x7f.1", "2130706433", "[::ffff:127.0.0.1]", "64:ff9b::7f00:1", "example.com", "1.2.3.4.5", "0177.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		a, ok, err := netguard.ParseHost(host)
		if err != nil && ok {
			t.Fatalf("ParseHost(%q): ok with error %v", host, err)
		}
		if !ok {
			return
		}
		// A literal is judged the same whatever its spelling.
		canon, ok2, err2 := netguard.ParseHost(a.String())
		if !ok2 || err2 != nil || canon != a {
			t.Fatalf("ParseHost(%q) = %v, but its canonical form reads %v %v %v", host, a, canon, ok2, err2)
		}
		if (netguard.CheckHost(host, false) == nil) != (netguard.Check(a, false) == nil) {
			t.Fatalf("CheckHost(%q) and Check(%v) disagree", host, a)
		}
		// Whatever a dotted-decimal string says, net/netip must agree.
		if !strings.ContainsAny(host, "xX:[") && strings.Count(host, ".") == 3 && !strings.Contains(host, ".0") && host[0] != '0' {
			if b, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil && b != a {
				t.Fatalf("ParseHost(%q) = %v, netip says %v", host, a, b)
			}
		}
	})
}
