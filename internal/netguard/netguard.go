// Package netguard is Herald's one rule for which network addresses its
// outbound HTTP may reach (webhooks, the SMS provider) and which webhook
// hosts the users service accepts.
//
// Only globally reachable unicast addresses are allowed. Refused: loopback,
// private (RFC 1918, unique local), link-local, shared address space
// (100.64.0.0/10), benchmarking (198.18.0.0/15), multicast, broadcast,
// unspecified, documentation and reserved ranges, following the IANA IPv4
// and IPv6 Special-Purpose Address Registries, and the IPv4-mapped,
// IPv4-compatible, NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 forms of
// them. Loopback can be allowed explicitly for development.
//
// No maintained Go module carrying the IANA registries is available to this
// project (inet.af/netaddr is not served and is superseded by net/netip), so
// the table below is kept here, beside net/netip's own predicates.
//
// The check that matters is at connect time (Control on a net.Dialer): a
// public name can resolve to a private address, and DNS answers change.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrNotAllowed is matched (errors.Is) by every refusal of this package.
var ErrNotAllowed = errors.New("address not allowed")

// Error is a refused address and the range it falls in.
type Error struct {
	Addr  netip.Addr
	Range string // e.g. "private", "loopback", "shared address space"
}

func (e *Error) Error() string {
	return fmt.Sprintf("address %s is not allowed (%s)", e.Addr, e.Range)
}

// Is makes errors.Is(err, ErrNotAllowed) true.
func (e *Error) Is(target error) bool { return target == ErrNotAllowed }

type special struct {
	prefix netip.Prefix
	name   string
}

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// v4 and v6 are the special-purpose blocks that are not globally reachable
// (IANA registries, checked 2026-12). Globally reachable entries (AS112,
// AMT, the 192.0.0.9/10 anycasts) are refused too where they sit inside a
// larger refused block: no webhook lives there.
var v4 = []special{
	{p("0.0.0.0/8"), "this network"},
	{p("10.0.0.0/8"), "private"},
	{p("100.64.0.0/10"), "shared address space"},
	{p("127.0.0.0/8"), "loopback"},
	{p("169.254.0.0/16"), "link-local"},
	{p("172.16.0.0/12"), "private"},
	{p("192.0.0.0/24"), "IETF protocol assignments"},
	{p("192.0.2.0/24"), "documentation"},
	{p("192.88.99.0/24"), "deprecated 6to4 relay anycast"},
	{p("192.168.0.0/16"), "private"},
	{p("198.18.0.0/15"), "benchmarking"},
	{p("198.51.100.0/24"), "documentation"},
	{p("203.0.113.0/24"), "documentation"},
	{p("224.0.0.0/4"), "multicast"},
	{p("255.255.255.255/32"), "broadcast"},
	{p("240.0.0.0/4"), "reserved"},
}

var v6 = []special{
	{p("::1/128"), "loopback"},
	{p("::/128"), "unspecified"},
	{p("::/96"), "IPv4-compatible (deprecated)"},
	{p("::ffff:0:0:0/96"), "IPv4-translated"},
	{p("64:ff9b:1::/48"), "local-use NAT64"},
	{p("100::/64"), "discard-only"},
	{p("100:0:0:1::/64"), "dummy prefix"},
	{p("2001::/23"), "IETF protocol assignments"},
	{p("2001:db8::/32"), "documentation"},
	{p("3fff::/20"), "documentation"},
	{p("5f00::/16"), "segment routing"},
	{p("fc00::/7"), "unique local (private)"},
	{p("fe80::/10"), "link-local"},
	{p("fec0::/10"), "site-local (deprecated)"},
	{p("ff00::/8"), "multicast"},
}

var (
	nat64     = p("64:ff9b::/96")
	sixToFour = p("2002::/16")
	global6   = p("2000::/3")
)

// Check returns nil when addr may be dialled, else an *Error naming the
// range. With allowLoopback, loopback addresses (127.0.0.0/8, ::1 and their
// mapped forms) pass: development and tests only.
func Check(addr netip.Addr, allowLoopback bool) error {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return &Error{Addr: addr, Range: "invalid"}
	}
	if name := refused(addr, allowLoopback); name != "" {
		return &Error{Addr: addr, Range: name}
	}
	return nil
}

func refused(a netip.Addr, allowLoopback bool) string {
	if a.Is4In6() {
		return refused(a.Unmap(), allowLoopback)
	}
	if a.Is4() {
		for _, s := range v4 {
			if s.prefix.Contains(a) {
				if s.name == "loopback" && allowLoopback {
					return ""
				}
				return s.name
			}
		}
		return ""
	}
	// Forms that carry an IPv4 address: judged by that address.
	b := a.As16()
	if nat64.Contains(a) {
		if n := refused(netip.AddrFrom4([4]byte(b[12:16])), allowLoopback); n != "" {
			return "NAT64 of " + n
		}
		return ""
	}
	if sixToFour.Contains(a) {
		if n := refused(netip.AddrFrom4([4]byte(b[2:6])), false); n != "" {
			return "6to4 of " + n
		}
		return ""
	}
	for _, s := range v6 {
		if s.prefix.Contains(a) {
			if s.name == "loopback" && allowLoopback {
				return ""
			}
			return s.name
		}
	}
	if !global6.Contains(a) {
		return "reserved" // IANA has allocated no unicast space outside 2000::/3
	}
	return ""
}

// Control is a net.Dialer Control function that refuses every connection to
// an address Check refuses. It runs for each address the dialer tries, after
// name resolution and before connect(2), so nothing is sent to a refused
// address whatever the name said.
func Control(allowLoopback bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("netguard: dial %s %q: %w", network, address, ErrNotAllowed)
		}
		return Check(ap.Addr(), allowLoopback)
	}
}

// Dialer returns a net.Dialer whose every connection is checked by Control.
// resolver may be nil (the default resolver).
func Dialer(allowLoopback bool, resolver *net.Resolver) *net.Dialer {
	return &net.Dialer{Control: Control(allowLoopback), Resolver: resolver}
}

// LoopbackHost reports whether host (a URL's Hostname(); brackets are
// tolerated) is this machine: "localhost" or a name under it (RFC 6761),
// with or without the root dot, in any case, or a loopback IP literal in any
// spelling ParseHost accepts (127.1, 0x7f.1, [::1], ::ffff:127.0.0.1).
func LoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, ok, err := ParseHost(host)
	if err != nil || !ok {
		return false
	}
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:16]))
	}
	return a.IsLoopback()
}
