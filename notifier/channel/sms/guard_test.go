package sms_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/netguard/dnstest"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/sms"
)

// A provider name that resolves to loopback is refused at dial time (the
// loopback allowance follows the configured base URL's host, not DNS):
// nothing reaches the listener and the reason is the fixed text.
func TestSendRefusesProviderResolvingToLoopback(t *testing.T) {
	target := dnstest.NewTarget(t)
	res := dnstest.Resolver(t, map[string][]netip.Addr{"api.sms.example": {netip.MustParseAddr("127.0.0.1")}})
	s := newSender(t, "https://api.sms.example:"+target.Port, func(c *sms.Config) { c.Resolver = res })
	_, err := s.Send(context.Background(), channel.Message{DeliveryID: "d1", Recipient: "+4915112345678", Text: "hi"})
	if !errors.Is(err, netguard.ErrNotAllowed) || !channel.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent ErrNotAllowed", err)
	}
	if got := channel.PublicReason(sms.Name, err); got != channel.ReasonAddressNotAllowed {
		t.Errorf("public reason = %q", got)
	}
	target.NothingArrived(t)
}
