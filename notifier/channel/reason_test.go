package channel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

func TestPublicReason(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 8443},
		Err: &netguard.Error{Addr: netip.MustParseAddr("10.0.0.7"), Range: "private"}}
	tests := []struct {
		ch   string
		err  error
		want string
	}{
		{webhook.Name, channel.Transient(fmt.Errorf("webhook POST https://vm:8443/h: %w", refused)), channel.ReasonAddressNotAllowed},
		{webhook.Name, channel.HTTPStatus(503, 0), "receiver answered HTTP 503"},
		{sms.Name, channel.WithDetail(channel.HTTPStatus(400, 0), "provider error 21211: bad To +49151…"), "SMS provider answered HTTP 400"},
		{webhook.Name, fmt.Errorf("read tcp 127.0.0.1:35022->127.0.0.1:8443: %w", syscall.ECONNRESET), channel.ReasonConnReset},
		{webhook.Name, fmt.Errorf("dial: %w", syscall.ECONNREFUSED), channel.ReasonConnRefused},
		{webhook.Name, &net.DNSError{Err: "no such host", Name: "example.com", Server: "10.255.255.53:53", IsNotFound: true}, channel.ReasonNameNotFound},
		{webhook.Name, &net.DNSError{Err: "server misbehaving", Name: "example.com", Server: "10.255.255.53:53"}, channel.ReasonNameResolution},
		{webhook.Name, fmt.Errorf("POST: %w", context.DeadlineExceeded), channel.ReasonTimedOut},
		{webhook.Name, fmt.Errorf("POST: %w", io.ErrUnexpectedEOF), channel.ReasonConnReset},
		{email.Name, errors.New("smtp dial: tls: failed to verify certificate"), channel.ReasonTLS},
		{webhook.Name, channel.WithReason(channel.Permanent(errors.New("bad +4915112345678")), "invalid phone number"), "invalid phone number"},
		{webhook.Name, channel.WithDetail(channel.WithReason(channel.Transient(errors.New("x")), "mail relay answered SMTP 451"), "4.7.1 try later a@b.example"), "mail relay answered SMTP 451"},
		{webhook.Name, errors.New("something odd at 10.1.1.1"), channel.ReasonFailed},
	}
	for _, tc := range tests {
		got := channel.PublicReason(tc.ch, tc.err)
		if got != tc.want {
			t.Errorf("PublicReason(%s, %v) = %q, want %q", tc.ch, tc.err, got, tc.want)
		}
		for _, leak := range []string{"10.", "127.0.0.1", "example", "+49", "@"} {
			if strings.Contains(got, leak) {
				t.Errorf("PublicReason(%v) = %q leaks %q", tc.err, got, leak)
			}
		}
	}
	// WithDetail and WithReason keep the classification.
	e := channel.WithDetail(channel.WithRetryAfter(errors.New("429"), time.Minute), "slow down")
	if channel.IsPermanent(e) || channel.RetryAfterOf(e) != time.Minute || !strings.Contains(e.Error(), "slow down") {
		t.Errorf("WithDetail lost the classification: %v", e)
	}
	if !channel.IsPermanent(channel.WithReason(channel.Permanent(errors.New("x")), "r")) {
		t.Error("WithReason lost permanence")
	}
}
