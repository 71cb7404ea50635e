package channel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/internal/netguard"
)

// The fixed reasons a client sees in NotificationStatus events. A send
// failure's full error (addresses, the provider's answer) goes to the logs
// and the delivery row's last_error, which only operators read: status
// events are a stream users subscribe to, and detailed network errors
// would make webhooks a port scanner with read-back.
const (
	ReasonTimedOut          = "timed out"
	ReasonTLS               = "TLS handshake failed"
	ReasonAddressNotAllowed = "address not allowed"
	ReasonConnRefused       = "connection refused"
	ReasonConnReset         = "connection closed by the receiver"
	ReasonUnreachable       = "network unreachable"
	ReasonNameNotFound      = "name not found"
	ReasonNameResolution    = "name resolution failed"
	ReasonInvalidURL        = "invalid webhook URL"
	ReasonFailed            = "send failed"
)

// WithReason sets the client-visible reason of a failure, keeping its
// classification (an unclassified err becomes transient). Use it for
// failures whose kind the channel knows better than PublicReason can guess
// (an invalid number, an SMTP reply code); reason must hold no address, no
// recipient and nothing the provider sent.
func WithReason(err error, reason string) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return &Error{Permanent: ce.Permanent, RetryAfter: ce.RetryAfter, Reason: reason, Err: err}
	}
	return &Error{Reason: reason, Err: err}
}

// WithDetail adds the provider's own words (a receiver's answer, an error
// code) to err for logs and last_error, keeping its classification and
// public reason. It is the one place the HTTP channels attach such detail.
func WithDetail(err error, detail string) error {
	detail = strings.TrimSpace(detail)
	if err == nil || detail == "" {
		return err
	}
	var ce *Error
	if errors.As(err, &ce) {
		return &Error{Permanent: ce.Permanent, RetryAfter: ce.RetryAfter, Reason: ce.Reason,
			Err: fmt.Errorf("%w: %s", ce.Err, detail)}
	}
	return fmt.Errorf("%w: %s", err, detail)
}

// PublicReason maps a send failure on channel ch to one of the fixed
// reasons above (or "<who> answered HTTP <code>", or a reason the channel
// set with WithReason). It never returns text taken from err itself.
func PublicReason(ch string, err error) string {
	if err == nil {
		return ""
	}
	var ce *Error
	for e := err; errors.As(e, &ce); e = ce.Err {
		if ce.Reason != "" {
			return ce.Reason
		}
	}
	var se *StatusError
	if errors.As(err, &se) {
		who := "receiver"
		if k, ok := Lookup(ch); ok && k.Provider != "" {
			who = k.Provider
		}
		return fmt.Sprintf("%s answered HTTP %d", who, se.Code)
	}
	if errors.Is(err, netguard.ErrNotAllowed) {
		return ReasonAddressNotAllowed
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return ReasonNameNotFound
		case dnsErr.IsTimeout:
			return ReasonTimedOut
		}
		return ReasonNameResolution
	}
	if isTLS(err) {
		return ReasonTLS
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return ReasonTimedOut
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonConnRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonConnReset
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ReasonUnreachable
	}
	return ReasonFailed
}

func isTLS(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		rh tls.RecordHeaderError
		al tls.AlertError
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
	)
	if errors.As(err, &cv) || errors.As(err, &rh) || errors.As(err, &al) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	// Libraries that flatten TLS errors to text (go-mail's STARTTLS) keep
	// crypto/tls's "tls: " and crypto/x509's "x509: " prefixes.
	msg := err.Error()
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "x509: ")
}

// StatusError is a non-2xx HTTP answer (the status code only: the body is
// detail for the logs, see WithDetail).
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("provider answered HTTP %d %s", e.Code, statusText(e.Code))
}
