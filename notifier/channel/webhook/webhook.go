// Package webhook delivers notifications to the user's own HTTPS endpoint:
// one JSON POST per attempt, signed with HMAC-SHA256 over "<timestamp>.<body>"
// with the user's webhook secret (see Verify for the receiver's side).
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/notifier/channel"
)

// DefaultTimeout bounds one attempt when Config.Timeout is not set
// (HERALD_WEBHOOK_TIMEOUT's default).
const DefaultTimeout = 10 * time.Second

// Config is how the notifier calls webhooks.
type Config struct {
	// Timeout bounds one attempt (connect, TLS, request, response headers
	// and the read of the response). A timeout is retried.
	Timeout time.Duration
	// AllowLoopbackHTTP lets webhooks reach this machine (a "localhost" host
	// or a loopback address, also after DNS), over plain http:// too: local
	// development and tests. Without it every URL must be https:// and every
	// address dialled must be public (internal/netguard).
	AllowLoopbackHTTP bool
	// Resolver resolves receiver names (nil: the system's). Tests point it
	// at a DNS server they control; whatever it answers, the dialled
	// address is checked.
	Resolver *net.Resolver
	// CAFile is an optional PEM bundle trusted in addition to the system
	// roots (receivers behind a private CA).
	CAFile string
}

// SendTimeout is the time one attempt may take: Timeout, or DefaultTimeout
// when it is not set (as New applies it).
func (c Config) SendTimeout() time.Duration { return channel.TimeoutOr(c.Timeout, DefaultTimeout) }

// LoadConfig declares and reads the HERALD_WEBHOOK_* variables.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		Timeout:           v.Duration(TimeoutVar, DefaultTimeout, "timeout of one webhook request (a timeout is retried)"),
		AllowLoopbackHTTP: v.Bool("HERALD_WEBHOOK_ALLOW_LOOPBACK_HTTP", false, "allow webhooks to loopback hosts and addresses, plain http:// too (development only)"),
		CAFile:            v.String("HERALD_WEBHOOK_CA_FILE", "", "PEM file of extra CA(s) trusted for webhook receivers, besides the system roots"),
	}
	v.Check(c.Timeout > 0, "HERALD_WEBHOOK_TIMEOUT: must be positive")
	if c.CAFile != "" {
		_, err := loadCAs(c.CAFile)
		v.Check(err == nil, "HERALD_WEBHOOK_CA_FILE: %v", err)
	}
	return c
}

// Body is the JSON document POSTed to the receiver. It is the same on every
// attempt of a delivery (only the signature's timestamp changes), so
// receivers can deduplicate on DeliveryID.
type Body struct {
	DeliveryID string          `json:"deliveryId"`
	EventID    string          `json:"eventId"`
	EventType  string          `json:"eventType"`
	OrderID    string          `json:"orderId,omitempty"`
	UserID     string          `json:"userId"`
	Category   string          `json:"category,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// Sender posts webhooks. It implements channel.Sender.
type Sender struct {
	cfg    Config
	client *http.Client
	logger *slog.Logger
	now    func() time.Time
}

var _ channel.Sender = (*Sender)(nil)

// New builds a Sender. Every connection goes through internal/netguard: the
// address actually dialled, after DNS, must be public (loopback too with
// AllowLoopbackHTTP). No proxy from the environment is used, since the guard
// would then check the proxy instead of the receiver. Redirects are never
// followed: a 3xx is reported as a (transient) failure, so a receiver
// cannot bounce a signed request to another host or to plain http.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	cfg.Timeout = cfg.SendTimeout()
	logger = logging.OrDiscard(logger)
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := loadCAs(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook CA file: %w", err)
		}
		tlsCfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	d := netguard.Dialer(cfg.AllowLoopbackHTTP, cfg.Resolver)
	d.Timeout, d.KeepAlive = 30*time.Second, 30*time.Second
	tr.DialContext = d.DialContext
	tr.TLSClientConfig = tlsCfg
	tr.ResponseHeaderTimeout = cfg.Timeout
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Sender{cfg: cfg, client: client, logger: logger, now: time.Now}, nil
}

// loadCAs returns the system roots plus the certificates in path.
func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// CheckURL reports whether raw is a URL the sender will call: https with a
// host, or http to a loopback host when cfg allows it. The users service
// can use it to validate a webhook URL when it is saved.
func CheckURL(raw string, allowLoopbackHTTP bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("webhook url: %w", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("webhook url: no host")
	}
	if u.User != nil {
		return nil, errors.New("webhook url: credentials in the URL are not allowed (the signature authenticates Herald)")
	}
	// IP literals in any spelling (127.1, 0x7f.1, [::ffff:10.0.0.1]) and
	// "localhost" names are judged here already; every other name when it
	// is dialled.
	if err := netguard.CheckHost(u.Hostname(), allowLoopbackHTTP); err != nil {
		return nil, fmt.Errorf("webhook url: %w", err)
	}
	if !allowLoopbackHTTP && netguard.LoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("webhook url: %w (loopback needs HERALD_WEBHOOK_ALLOW_LOOPBACK_HTTP=true)", netguard.ErrNotAllowed)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if allowLoopbackHTTP && netguard.LoopbackHost(u.Hostname()) {
			return u, nil
		}
		if netguard.LoopbackHost(u.Hostname()) {
			return nil, errors.New("webhook url: plain http to loopback needs HERALD_WEBHOOK_ALLOW_LOOPBACK_HTTP=true")
		}
		return nil, errors.New("webhook url: must be https")
	default:
		return nil, fmt.Errorf("webhook url: scheme %q is not https", u.Scheme)
	}
}

// Send makes one signed POST to m.Recipient. Failures are classified for the
// worker: connection errors, timeouts, 408, 429 (with Retry-After) and 5xx
// are transient; a bad URL, a missing secret or payload and any other 4xx
// are permanent.
func (s *Sender) Send(ctx context.Context, m channel.Message) (channel.Result, error) {
	u, err := CheckURL(m.Recipient, s.cfg.AllowLoopbackHTTP)
	if err != nil {
		if errors.Is(err, netguard.ErrNotAllowed) {
			return channel.Result{}, channel.Permanent(err)
		}
		return channel.Result{}, channel.WithReason(channel.Permanent(err), channel.ReasonInvalidURL)
	}
	if m.Secret == "" {
		return channel.Result{}, channel.WithReason(channel.Permanent(errors.New("webhook: no signing secret for this recipient")), "no signing secret")
	}
	data := json.RawMessage(m.Payload)
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("null")
	} else if !json.Valid(data) {
		return channel.Result{}, channel.WithReason(channel.Permanent(errors.New("webhook: payload is not valid JSON")), "invalid payload")
	}
	body, err := json.Marshal(Body{
		DeliveryID: m.DeliveryID, EventID: m.EventID, EventType: m.EventType,
		OrderID: m.OrderID, UserID: m.UserID, Category: m.Category, Data: data,
	})
	if err != nil {
		return channel.Result{}, channel.Permanent(fmt.Errorf("webhook: encode body: %w", err))
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return channel.Result{}, channel.Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Webhook/1")
	req.Header.Set(HeaderSignature, SignatureHeader(m.Secret, s.now(), body))
	req.Header.Set(HeaderDeliveryID, m.DeliveryID)
	req.Header.Set(HeaderEventID, m.EventID)
	if m.EventType != "" {
		req.Header.Set(HeaderEventType, m.EventType)
	}
	if m.Attempt > 0 {
		req.Header.Set(HeaderAttempt, strconv.Itoa(m.Attempt))
	}

	resp, err := s.client.Do(req)
	if err != nil {
		// Connection refused, DNS, TLS, timeouts, ctx deadline: the receiver
		// may be back later. (A bad certificate is an operator problem that
		// can be fixed too, so it is not permanent either.)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the full URL, query and all
		}
		err = fmt.Errorf("webhook POST %s: %w", redact(u), err)
		if errors.Is(err, netguard.ErrNotAllowed) {
			// Every address the name resolved to is refused: a user's
			// URL to fix, not an outage to wait out.
			return channel.Result{}, channel.Permanent(err)
		}
		return channel.Result{}, channel.Transient(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused

	if err := channel.HTTPStatus(resp.StatusCode, channel.ParseRetryAfter(resp.Header.Get("Retry-After"), s.now())); err != nil {
		// The receiver's answer is for the logs and last_error only
		// (channel.PublicReason never shows it).
		return channel.Result{}, channel.WithDetail(err, string(snippet))
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		id = m.DeliveryID
	}
	return channel.Result{ProviderID: id}, nil
}

// redact drops the query string (it may hold a token) from logged URLs.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.Fragment = ""
	return c.String()
}
