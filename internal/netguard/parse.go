package netguard

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadLiteral is returned for a host that looks like an IPv4 address (its
// last label is numeric) but is not one: resolvers and browsers disagree on
// such names, so they are refused rather than guessed at.
var ErrBadLiteral = errors.New("host looks like an IP address but is not a valid one")

// ParseHost reports whether host (a URL's Hostname() or Host without port;
// brackets are tolerated) is an IP address literal, and which, in every
// spelling a resolver or URL parser may accept: IPv6 (also bracketed,
// IPv4-mapped or with a zone, which is dropped), dotted IPv4 with one to
// four parts in decimal, octal (leading 0) or hex (0x), as inet_aton(3) and
// the WHATWG URL parser read them: "127.1", "2130706433", "0x7f.0.0.1",
// "0177.0.0.1", with or without a trailing dot.
//
// ok is false for a host name. A name whose last label is numeric but that
// is no valid address ("1.2.3.4.5", "256.1") is ErrBadLiteral.
func ParseHost(host string) (addr netip.Addr, ok bool, err error) {
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, false, ErrBadLiteral
		}
		return a.WithZone(""), true, nil
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return netip.Addr{}, false, nil
	}
	parts := strings.Split(h, ".")
	if !numeric(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil // a name
	}
	a, good := parseIPv4(parts)
	if !good {
		return netip.Addr{}, false, ErrBadLiteral
	}
	return a, true, nil
}

// numeric reports whether label reads as a number to the WHATWG URL parser
// (digits, or 0x followed by hex digits), which makes the host an IPv4
// address or an error.
func numeric(label string) bool {
	if label == "" {
		return false
	}
	if l := strings.ToLower(label); strings.HasPrefix(l, "0x") {
		for _, c := range l[2:] {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range label {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseIPv4(parts []string) (netip.Addr, bool) {
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, s := range parts {
		n, ok := parseNum(s)
		if !ok {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	// All parts but the last are one byte; the last fills the rest.
	var v uint64
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v = v<<8 | n
	}
	restBits := uint(8 * (5 - len(nums)))
	last := nums[len(nums)-1]
	if last >= 1<<restBits {
		return netip.Addr{}, false
	}
	v = v<<restBits | last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseNum(s string) (uint64, bool) {
	base := 10
	l := strings.ToLower(s)
	switch {
	case strings.HasPrefix(l, "0x"):
		base, l = 16, l[2:]
		if l == "" {
			return 0, true // "0x" is zero to both inet_aton and WHATWG
		}
	case len(l) > 1 && l[0] == '0':
		base, l = 8, l[1:]
	}
	if l == "" || strings.ContainsAny(l, "+-_") {
		return 0, false
	}
	n, err := strconv.ParseUint(l, base, 32)
	if err != nil {
		return 0, false
	}
	return n, true
}

// CheckHost applies Check to host when it is an IP literal (any spelling
// ParseHost reads). A host name passes: only the dial-time check sees what
// it resolves to. A malformed numeric host is refused.
func CheckHost(host string, allowLoopback bool) error {
	a, ok, err := ParseHost(host)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return Check(a, allowLoopback)
}
