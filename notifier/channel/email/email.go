// Package email is the email channel: it builds a multipart (plain text +
// HTML) message from per-locale templates embedded in the binary and hands
// it to an SMTP relay over STARTTLS with github.com/wneessen/go-mail.
//
// Every message carries a Message-ID derived from the delivery id, so a
// resend after a crash is recognisable as the same mail, and non-critical
// categories carry List-Unsubscribe (RFC 2369) and, with an https URL,
// List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058).
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/notifier/channel"
)

// Sender sends email through one SMTP relay. It keeps the connections of
// finished sends open for the next ones (Config.IdleTimeout; see pool.go)
// and is safe for concurrent use. It implements channel.Sender; Close ends
// its idle connections.
type Sender struct {
	cfg    Config
	from   string
	domain string
	host   string
	port   int
	tls    *tls.Config
	policy gomail.TLSPolicy
	logger *slog.Logger
	now    func() time.Time

	client *gomail.Client // shared; each send uses a connection of its own
	pool   pool
	dials  atomic.Int64 // TCP connections opened (tests)
}

var _ channel.Sender = (*Sender)(nil)

// New validates cfg and loads the relay's CA file.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	if errs := cfg.problems(); len(errs) > 0 {
		return nil, fmt.Errorf("email config: %w", errors.Join(errs...))
	}
	host, portStr, _ := net.SplitHostPort(cfg.Addr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("smtp port %q: %w", portStr, err)
	}
	from, _ := mail.ParseAddress(cfg.From)
	logger = logging.OrDiscard(logger)
	s := &Sender{cfg: cfg, from: from.String(), host: host, port: port, logger: logger, now: time.Now}
	s.domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	serverName := cfg.ServerName
	if serverName == "" {
		serverName = host
	}
	s.tls = &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp CA file %s holds no PEM certificate", cfg.CAFile)
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
	}
	s.cfg.Timeout = s.cfg.SendTimeout()
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTLSPolicy(s.policy),
		gomail.WithTLSConfig(s.tls),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithDialContextFunc(s.dialContext),
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	if s.client, err = gomail.NewClient(s.host, opts...); err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return s, nil
}

// MessageID is the stable Message-ID (without angle brackets) of a
// delivery: <delivery id>@<From domain>, the same on every attempt.
func (s *Sender) MessageID(deliveryID string) string {
	return deliveryID + "@" + s.domain
}

// reservedHeaders are set by the sender itself; Message.Headers cannot
// replace them (a worker bug must not forge a recipient or break MIME).
var reservedHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Subject": true, "Message-Id": true,
	"Date": true, "Sender": true, "Reply-To": true, "Return-Path": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true,
	"List-Unsubscribe": true, "List-Unsubscribe-Post": true,
}

// Build makes the message for m without sending it. The body is m's
// Subject/Text/HTML when given, else rendered from m.Payload in m.Locale.
func (s *Sender) Build(m channel.Message) (*gomail.Msg, error) {
	if m.DeliveryID == "" {
		return nil, channel.Permanent(errors.New("email: message has no delivery id (needed for a stable Message-ID)"))
	}
	content := Content{Subject: m.Subject, Text: m.Text, HTML: m.HTML}
	if strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.HTML) == "" {
		c, err := renderPayload(m.EventType, m.Locale, m.Payload)
		if err != nil {
			return nil, channel.Permanent(err)
		}
		content = c
		if m.Subject != "" {
			content.Subject = m.Subject
		}
	}
	if content.Text == "" {
		return nil, channel.Permanent(errors.New("email: message has an HTML body but no plain-text body"))
	}

	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, channel.Permanent(fmt.Errorf("from address: %w", err))
	}
	if err := msg.To(m.Recipient); err != nil {
		return nil, channel.WithReason(channel.Permanent(fmt.Errorf("recipient address %s: %w", logging.MaskEmail(m.Recipient), err)), "invalid email address")
	}
	msg.Subject(content.Subject)
	msg.SetMessageIDWithValue(s.MessageID(m.DeliveryID))
	msg.SetDateWithValue(s.now())
	msg.SetUserAgent("Herald notifier")
	if content.Locale != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, content.Locale)
	} else if m.Locale != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, baseOf(MatchLocale(m.Locale)))
	}
	msg.SetBodyString(gomail.TypeTextPlain, content.Text)
	if content.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, content.HTML)
	}
	for k, v := range m.Headers {
		name := textproto.CanonicalMIMEHeaderKey(k)
		if reservedHeaders[name] || !validHeaderName(name) {
			continue
		}
		msg.SetGenHeader(gomail.Header(name), v)
	}
	if !m.Critical {
		if err := s.setUnsubscribe(msg, m); err != nil {
			return nil, channel.Permanent(err)
		}
	}
	return msg, nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// setUnsubscribe adds List-Unsubscribe for non-critical mail: the worker's
// value (Message.Headers["List-Unsubscribe"], already formatted) wins over
// the configured URL/mailto. List-Unsubscribe-Post is only added when an
// https URI is listed, as RFC 8058 requires for one-click.
func (s *Sender) setUnsubscribe(msg *gomail.Msg, m channel.Message) error {
	var given string
	for k, v := range m.Headers {
		if textproto.CanonicalMIMEHeaderKey(k) == "List-Unsubscribe" {
			given = strings.TrimSpace(v)
		}
	}
	if given != "" {
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, given)
		if strings.Contains(given, "<https://") {
			msg.SetListUnsubscribePost()
		}
		return nil
	}
	var mailto []string
	if s.cfg.UnsubscribeMailto != "" {
		q := url.Values{"subject": {strings.TrimSpace("unsubscribe " + m.Category)}}
		mailto = append(mailto, "mailto:"+s.cfg.UnsubscribeMailto+"?"+strings.ReplaceAll(q.Encode(), "+", "%20"))
	}
	if s.cfg.UnsubscribeURL != "" {
		u := fillUnsubscribe(s.cfg.UnsubscribeURL, m.UserID, m.Category, m.DeliveryID)
		return msg.SetListUnsubscribeOneClick(u, mailto...)
	}
	if len(mailto) > 0 {
		msg.SetListUnsubscribe(mailto...)
	}
	return nil
}

// Send delivers m through the relay. nil means the relay accepted the
// message (250 after DATA). SMTP 5xx replies and unusable addresses are
// permanent; connection, TLS (including an untrusted certificate or a relay
// without STARTTLS) and SMTP 4xx failures are transient.
//
// The connection of a successful send is kept for the next one (see
// pool.go); a reused connection the relay has closed meanwhile is replaced
// once, and only when nothing of m went over it.
func (s *Sender) Send(ctx context.Context, m channel.Message) (channel.Result, error) {
	msg, err := s.Build(m)
	if err != nil {
		return channel.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return channel.Result{}, channel.Transient(fmt.Errorf("smtp send: %w", err))
	}
	rc, reused, err := s.take(ctx)
	if err != nil {
		return channel.Result{}, classify(fmt.Errorf("smtp dial %s: %w", s.cfg.Addr, err))
	}
	cut, sendErr := s.sendOn(ctx, rc, msg)
	if sendErr != nil && reused && !cut && !msg.IsDelivered() && closedWhileIdle(sendErr) {
		s.discard(rc.c)
		s.logger.Debug("smtp connection closed by the relay while idle; dialling again", "error", sendErr)
		if rc, err = s.dial(ctx); err != nil {
			return channel.Result{}, classify(fmt.Errorf("smtp dial %s: %w", s.cfg.Addr, err))
		}
		cut, sendErr = s.sendOn(ctx, rc, msg)
	}
	switch {
	case sendErr == nil && cut:
		// Accepted just as the context cut the connection.
		s.discard(rc.c)
	case sendErr == nil:
		s.put(rc)
	case msg.IsDelivered():
		// The relay answered 250 to DATA; only the RSET that follows failed.
		// Reporting an error would resend an accepted message.
		s.logger.Debug("smtp error after the message was accepted", "error", sendErr)
		s.discard(rc.c)
		sendErr = nil
	default:
		s.discard(rc.c)
	}
	if sendErr != nil {
		return channel.Result{}, classify(fmt.Errorf("smtp send to %s: %w", logging.MaskEmail(m.Recipient), sendErr))
	}
	return channel.Result{ProviderID: s.MessageID(m.DeliveryID)}, nil
}

// sendOn runs one SMTP conversation on rc. go-mail honours ctx only while
// dialling, so ctx ending (the worker's lease) cuts the TCP connection
// instead: a send never outlives the claim on its delivery, after which
// another worker could send the same row. cut reports that it did.
func (s *Sender) sendOn(ctx context.Context, rc relayConn, msg *gomail.Msg) (cut bool, err error) {
	stop := func() bool { return true }
	if rc.raw != nil {
		stop = context.AfterFunc(ctx, func() { _ = rc.raw.SetDeadline(time.Unix(1, 0)) })
	}
	err = s.client.SendWithSMTPClient(rc.c, msg)
	return !stop(), err
}

// classify marks SMTP 5xx replies as permanent; anything else (connection,
// TLS, 4xx) is transient: the relay may come back.
// The client-visible reason names the SMTP reply code only: the relay's
// text may repeat the recipient.
func classify(err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.ErrorCode() == 0 {
		return channel.Transient(err)
	}
	reason := fmt.Sprintf("mail relay answered SMTP %d", se.ErrorCode())
	if !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return channel.WithReason(channel.Permanent(err), reason)
	}
	return channel.WithReason(channel.Transient(err), reason)
}

// WriteTo renders m as it would go over the wire (for previews and tests).
func (s *Sender) WriteTo(w io.Writer, m channel.Message) error {
	msg, err := s.Build(m)
	if err != nil {
		return err
	}
	_, err = msg.WriteTo(w)
	return err
}
