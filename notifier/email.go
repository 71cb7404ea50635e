package notifier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/heraldhq/herald/notifier/channel"
)

// SMTP TLS modes.
const (
	TLSStartTLSRequired = "starttls-required" // refuse to send without STARTTLS
	TLSStartTLS         = "starttls"          // use STARTTLS when offered
	TLSNone             = "none"              // plain text (local relays only)
)

// SMTPConfig is how the notifier reaches its SMTP relay.
type SMTPConfig struct {
	Addr       string // host:port
	TLS        string // one of the TLS* modes
	CAFile     string // PEM CA bundle trusted for the relay; when set it replaces the system roots
	ServerName string // TLS server name; defaults to the host of Addr
	Username   string
	Password   string
	From       string // "Name <address>"
	Timeout    time.Duration
}

// OutgoingEmail is one message to send.
type OutgoingEmail struct {
	DeliveryID string // makes the Message-ID stable across retries
	To         string
	Subject    string
	Text       string
	HTML       string
}

// SendError classifies a failed send. Permanent means retrying cannot help
// (SMTP 5xx, an address that cannot be parsed); anything else is retried.
type SendError struct {
	Permanent bool
	Err       error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// PermanentFailure lets channel.IsPermanent classify a SendError.
func (e *SendError) PermanentFailure() bool { return e.Permanent }

// IsPermanent reports whether err is a permanent send failure (a SendError
// or a channel.Error marked permanent).
func IsPermanent(err error) bool { return channel.IsPermanent(err) }

// EmailChannel adapts an EmailSender (the SMTP sender) to channel.Sender.
type EmailChannel struct{ Sender EmailSender }

// Send sends m as an email; the Message-ID is the provider id.
func (c EmailChannel) Send(ctx context.Context, m channel.Message) (channel.Result, error) {
	id, err := c.Sender.Send(ctx, OutgoingEmail{DeliveryID: m.DeliveryID, To: m.Recipient, Subject: m.Subject, Text: m.Text, HTML: m.HTML})
	if err != nil {
		return channel.Result{}, err
	}
	return channel.Result{ProviderID: id}, nil
}

// EmailSender sends one email and returns the Message-ID it carried.
type EmailSender interface {
	Send(ctx context.Context, m OutgoingEmail) (messageID string, err error)
}

// SMTPSender sends through an SMTP relay with go-mail, one connection per
// message (notifications are few and a connection pool would hide relay
// failures behind stale connections).
type SMTPSender struct {
	cfg    SMTPConfig
	from   string
	domain string
	host   string
	port   int
	tls    *tls.Config
	policy gomail.TLSPolicy
	logger *slog.Logger
}

// NewSMTPSender validates cfg and loads the CA file.
func NewSMTPSender(cfg SMTPConfig, logger *slog.Logger) (*SMTPSender, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("smtp port %q: %w", portStr, err)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail from %q: %w", cfg.From, err)
	}
	s := &SMTPSender{cfg: cfg, from: from.String(), host: host, port: port, logger: logger}
	s.domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	serverName := cfg.ServerName
	if serverName == "" {
		serverName = host
	}
	s.tls = &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := loadCAFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		s.tls.RootCAs = pool
	}
	switch cfg.TLS {
	case TLSStartTLSRequired, "":
		s.policy = gomail.TLSMandatory
	case TLSStartTLS:
		s.policy = gomail.TLSOpportunistic
	case TLSNone:
		s.policy = gomail.NoTLS
	default:
		return nil, fmt.Errorf("smtp tls mode %q is not one of %s, %s, %s", cfg.TLS, TLSStartTLSRequired, TLSStartTLS, TLSNone)
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = 30 * time.Second
	}
	return s, nil
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("smtp CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("smtp CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// MessageID is the stable Message-ID (without angle brackets) of a delivery:
// a resend after a crash carries the same id, so receivers can deduplicate.
func (s *SMTPSender) MessageID(deliveryID string) string {
	return deliveryID + "@" + s.domain
}

// Send delivers m. It returns a *SendError; Permanent is set for SMTP 5xx
// replies and unusable addresses.
func (s *SMTPSender) Send(ctx context.Context, m OutgoingEmail) (string, error) {
	msgID := s.MessageID(m.DeliveryID)
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return "", &SendError{Permanent: true, Err: fmt.Errorf("from address: %w", err)}
	}
	if err := msg.To(m.To); err != nil {
		return "", &SendError{Permanent: true, Err: fmt.Errorf("recipient address: %w", err)}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(msgID)
	msg.SetDate()
	msg.SetUserAgent("Herald notifier")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTLSPolicy(s.policy),
		gomail.WithTLSConfig(s.tls),
		gomail.WithTimeout(s.cfg.Timeout),
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return "", &SendError{Err: fmt.Errorf("smtp client: %w", err)}
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return "", classifySMTP(fmt.Errorf("smtp dial %s: %w", s.cfg.Addr, err))
	}
	sendErr := client.SendWithSMTPClient(conn, msg)
	// Once the relay accepted the message a failing QUIT must not turn the
	// send into a retry (that would send it twice): log it and move on.
	if err := client.CloseWithSMTPClient(conn); err != nil && sendErr == nil {
		s.logger.Debug("smtp close after accepted message", "error", err)
	}
	if sendErr != nil {
		return "", classifySMTP(fmt.Errorf("smtp send: %w", sendErr))
	}
	return msgID, nil
}

// classifySMTP marks SMTP 5xx replies as permanent. Connection, TLS and 4xx
// failures are transient: the relay may come back.
func classifySMTP(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return &SendError{Permanent: true, Err: err}
	}
	return &SendError{Err: err}
}
