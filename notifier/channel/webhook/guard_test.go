package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/netguard/dnstest"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

// A public-looking name that resolves to 127.0.0.1 (or to private
// addresses) is refused when dialled: the listener on 127.0.0.1 gets
// nothing, the failure is permanent and its public reason is the fixed
// "address not allowed".
func TestSendRefusesNamesResolvingInside(t *testing.T) {
	target := dnstest.NewTarget(t)
	res := dnstest.Resolver(t, map[string][]netip.Addr{
		"hooks.example.com":    {netip.MustParseAddr("127.0.0.1")},
		"intranet.example":     {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("127.0.0.1")},
		"metadata.example":     {netip.MustParseAddr("169.254.169.254")},
		"mapped.example":       {netip.MustParseAddr("::ffff:127.0.0.1")},
		"cgnat.example":        {netip.MustParseAddr("100.64.0.1")},
		"nat64.example":        {netip.MustParseAddr("64:ff9b::7f00:1")},
		"localhost.example":    {netip.MustParseAddr("::1")},
		"benchmarking.example": {netip.MustParseAddr("198.18.0.1")},
	})
	s := newSender(t, webhook.Config{Timeout: 5 * time.Second, Resolver: res})
	for _, host := range []string{"hooks.example.com", "intranet.example", "metadata.example", "mapped.example",
		"cgnat.example", "nat64.example", "localhost.example", "benchmarking.example"} {
		_, err := s.Send(context.Background(), message("https://"+host+":"+target.Port+"/h"))
		if !errors.Is(err, netguard.ErrNotAllowed) || !channel.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent ErrNotAllowed", host, err)
		}
		if got := channel.PublicReason(webhook.Name, err); got != channel.ReasonAddressNotAllowed {
			t.Errorf("%s: public reason = %q, want %q", host, got, channel.ReasonAddressNotAllowed)
		}
	}
	target.NothingArrived(t)
}

// With the development setting the same name reaches a loopback receiver.
func TestSendLoopbackNameAllowedInDevelopment(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	res := dnstest.Resolver(t, map[string][]netip.Addr{"hooks.example.com": {netip.MustParseAddr("127.0.0.1")}})
	s := newSender(t, webhook.Config{Timeout: 5 * time.Second, Resolver: res, AllowLoopbackHTTP: true})
	url := "http://localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:") + "/h"
	if _, err := s.Send(context.Background(), message(url)); err != nil {
		t.Fatalf("send to %s: %v", url, err)
	}
	if n := len(rc.got()); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
}

// The receiver's answer and its address stay out of the public reason.
func TestPublicReasonHidesAnswerAndAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal db at 10.0.0.7:5432 is down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s := newSender(t, webhook.Config{Timeout: 5 * time.Second, AllowLoopbackHTTP: true})
	_, err := s.Send(context.Background(), message(srv.URL+"/h"))
	if err == nil || !strings.Contains(err.Error(), "10.0.0.7") {
		t.Fatalf("err = %v, want the receiver's answer kept for the logs", err)
	}
	if got := channel.PublicReason(webhook.Name, err); got != "receiver answered HTTP 503" {
		t.Errorf("public reason = %q", got)
	}
	// Nothing listens on a closed server's port (a new sender: no pooled
	// connection to it).
	srv.Close()
	s = newSender(t, webhook.Config{Timeout: 5 * time.Second, AllowLoopbackHTTP: true})
	_, err = s.Send(context.Background(), message(srv.URL+"/h"))
	if got := channel.PublicReason(webhook.Name, err); got != channel.ReasonConnRefused {
		t.Errorf("public reason = %q (%v), want %q", got, err, channel.ReasonConnRefused)
	}
	// A name that does not exist.
	res := dnstest.Resolver(t, nil)
	s = newSender(t, webhook.Config{Timeout: 5 * time.Second, Resolver: res})
	_, err = s.Send(context.Background(), message("https://nowhere.example/h"))
	if got := channel.PublicReason(webhook.Name, err); got != channel.ReasonNameNotFound {
		t.Errorf("public reason = %q (%v), want %q", got, err, channel.ReasonNameNotFound)
	}
}
