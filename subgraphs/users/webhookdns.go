package users

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/netguard"
)

// WarnWebhookHost resolves a just-validated webhook URL's host name and
// logs a warning when an address it resolves to is one the notifier will
// refuse. It never refuses: DNS answers change, and the notifier checks the
// address it dials on every attempt. IP literals were judged already.
func WarnWebhookHost(ctx context.Context, logger *slog.Logger, resolver *net.Resolver, raw, userID string, allowLoopback bool) {
	u, err := url.Parse(raw)
	if err != nil || logger == nil {
		return
	}
	host := u.Hostname()
	if _, literal, _ := netguard.ParseHost(host); literal {
		return
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		logger.WarnContext(ctx, "webhook host does not resolve now; deliveries will fail until it does",
			"user_id", userID, "host", host, "err", err)
		return
	}
	for _, a := range addrs {
		if err := netguard.Check(a, allowLoopback); err != nil {
			logger.WarnContext(ctx, "webhook host resolves to an address the notifier refuses; deliveries will fail with \"address not allowed\"",
				"user_id", userID, "host", host, "err", err)
			return
		}
	}
}
