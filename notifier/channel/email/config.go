package email

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/notifier/channel"
)

// SMTP TLS modes (the values of HERALD_SMTP_TLS).
const (
	TLSStartTLSRequired = "starttls-required" // refuse to send without STARTTLS (default)
	TLSStartTLS         = "starttls"          // use STARTTLS when offered
	TLSNone             = "none"              // plain text (local relays only)
)

// Config is how the email channel reaches its SMTP relay and what it puts in
// every message.
type Config struct {
	Addr       string // relay host:port
	TLS        string // one of the TLS* modes
	CAFile     string // PEM CA bundle trusted for the relay; when set it replaces the system roots
	ServerName string // TLS server name; defaults to the host of Addr
	Username   string // SMTP AUTH is off when empty
	Password   string
	From       string // "Name <address>"; its domain also names Message-IDs
	// Timeout bounds the dial and each message's SMTP conversation;
	// DefaultTimeout when not set.
	Timeout time.Duration
	// IdleTimeout is how long a relay connection is kept open unused for
	// the next message; 0 means DefaultIdleTimeout, a negative value turns
	// reuse off (a connection per message).
	IdleTimeout time.Duration

	// UnsubscribeURL is the one-click (RFC 8058) unsubscribe endpoint put in
	// List-Unsubscribe of non-critical mail; it must be https. Placeholders
	// {user_id}, {category} and {delivery_id} are replaced (query-escaped).
	UnsubscribeURL string
	// UnsubscribeMailto is an address for mailto: unsubscribe requests
	// (subject "unsubscribe <category>"), listed after the URL.
	UnsubscribeMailto string
}

// DefaultTimeout bounds the dial and one message's SMTP conversation when
// Config.Timeout is not set.
const DefaultTimeout = 30 * time.Second

// SendTimeout is the time one message may take: Timeout, or DefaultTimeout
// when it is not set (as New applies it).
func (c Config) SendTimeout() time.Duration { return channel.TimeoutOr(c.Timeout, DefaultTimeout) }

// LoadConfig declares and reads the email variables (HERALD_SMTP_*,
// HERALD_MAIL_*). This is the only place they are declared: the notifier
// reads them through notifier.LoadChannels.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		Addr:              v.String("HERALD_SMTP_ADDR", "127.0.0.1:1025", "SMTP relay host:port"),
		TLS:               v.Enum("HERALD_SMTP_TLS", TLSStartTLSRequired, "SMTP transport security", TLSStartTLSRequired, TLSStartTLS, TLSNone),
		CAFile:            v.String("HERALD_SMTP_CA_FILE", "", "PEM file of the CA(s) to trust for the relay instead of the system roots"),
		ServerName:        v.String("HERALD_SMTP_TLS_SERVER_NAME", "", "name to verify in the relay's certificate (default: host of HERALD_SMTP_ADDR)"),
		Username:          v.String("HERALD_SMTP_USERNAME", "", "SMTP user (authentication is off when empty)"),
		Password:          v.String("HERALD_SMTP_PASSWORD", "", "SMTP password"),
		From:              v.String("HERALD_MAIL_FROM", "Herald <notifications@herald.local>", "From header of notification emails"),
		Timeout:           v.Duration(TimeoutVar, DefaultTimeout, "timeout of one SMTP conversation"),
		IdleTimeout:       v.Duration("HERALD_SMTP_IDLE_TIMEOUT", DefaultIdleTimeout, "relay connections are reused for the next email and closed after this long unused; 0 opens a connection per email"),
		UnsubscribeURL:    v.String("HERALD_MAIL_UNSUBSCRIBE_URL", "", "https one-click unsubscribe URL for non-critical mail; {user_id}, {category}, {delivery_id} are substituted"),
		UnsubscribeMailto: v.String("HERALD_MAIL_UNSUBSCRIBE_MAILTO", "", "address for mailto: unsubscribe requests in non-critical mail"),
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = -1 // the variable's 0 means "no reuse"; the field's 0 means the default
	}
	for _, err := range c.problems() {
		v.Check(false, "%v", err)
	}
	return c
}

func (c Config) problems() []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("HERALD_SMTP_ADDR: %q is not host:port", c.Addr))
	}
	switch c.TLS {
	case TLSStartTLSRequired, TLSStartTLS, TLSNone, "":
	default:
		errs = append(errs, fmt.Errorf("HERALD_SMTP_TLS: %q is not one of %s, %s, %s", c.TLS, TLSStartTLSRequired, TLSStartTLS, TLSNone))
	}
	if a, err := mail.ParseAddress(c.From); err != nil || !strings.Contains(a.Address, "@") {
		errs = append(errs, fmt.Errorf("HERALD_MAIL_FROM: %q is not an address such as \"Name <user@example.com>\"", c.From))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, fmt.Errorf("HERALD_SMTP_PASSWORD: set without HERALD_SMTP_USERNAME"))
	}
	if c.UnsubscribeURL != "" {
		u, err := url.Parse(fillUnsubscribe(c.UnsubscribeURL, "u", "c", "d"))
		if err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("HERALD_MAIL_UNSUBSCRIBE_URL: %q is not an https URL (one-click unsubscribe requires https)", c.UnsubscribeURL))
		}
	}
	if c.UnsubscribeMailto != "" {
		if a, err := mail.ParseAddress(c.UnsubscribeMailto); err != nil || a.Name != "" {
			errs = append(errs, fmt.Errorf("HERALD_MAIL_UNSUBSCRIBE_MAILTO: %q is not a bare address", c.UnsubscribeMailto))
		}
	}
	return errs
}

// fillUnsubscribe substitutes the placeholders of an unsubscribe URL.
func fillUnsubscribe(tmpl, userID, category, deliveryID string) string {
	return strings.NewReplacer(
		"{user_id}", url.QueryEscape(userID),
		"{category}", url.QueryEscape(category),
		"{delivery_id}", url.QueryEscape(deliveryID),
	).Replace(tmpl)
}
