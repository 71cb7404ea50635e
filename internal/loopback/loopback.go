// Package loopback decides whether a URL's host is this machine. The users
// service (which webhook URLs it accepts) and the notifier's HTTP channels
// (where plain http is allowed, and which hosts are refused in production)
// must agree on it, or a URL accepted at registration fails at every send.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a URL's Hostname(); brackets are tolerated) is
// this machine: "localhost" or a name under it (RFC 6761 reserves
// "*.localhost" for loopback, and common resolvers answer 127.0.0.1 for
// it), with or without the root dot, in any case, or a loopback IP address
// (127.0.0.0/8, ::1, and IPv4-mapped forms of them).
func Host(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}
