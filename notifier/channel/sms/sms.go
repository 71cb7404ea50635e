// Package sms sends text messages through an SMS provider's HTTP API in the
// style most providers share: a form-encoded POST of To, From (or a
// messaging service id) and Body to
// <base URL>/Accounts/<account id>/Messages.json with HTTP basic auth
// (account id, auth token), answered by a JSON document with the message id
// or an error code. The path is configurable for providers that differ.
//
// Recipients must be E.164 numbers. The text is measured (GSM-7 or UCS-2,
// segments) and truncated or refused above a configured number of segments.
package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/notifier/channel"
)

// What to do with a text longer than MaxSegments.
const (
	OverflowTruncate = "truncate" // cut it and end it with an ellipsis
	OverflowRefuse   = "refuse"   // fail the delivery (permanent)
)

// DefaultMessagesPath is appended to BaseURL; {AccountID} is replaced by
// the path-escaped account id.
const DefaultMessagesPath = "/Accounts/{AccountID}/Messages.json"

// DefaultTimeout bounds one API call when Config.Timeout is not set
// (HERALD_SMS_TIMEOUT's default).
const DefaultTimeout = 10 * time.Second

// Config is how the notifier reaches its SMS provider.
type Config struct {
	// BaseURL of the provider's API (https; http only for a loopback host).
	// Empty disables the SMS channel (Enabled reports it).
	BaseURL string
	// MessagesPath is appended to BaseURL; {AccountID} is substituted.
	MessagesPath string
	// AccountID and AuthToken are the basic-auth credentials.
	AccountID string
	AuthToken string
	// From is the sender: an E.164 number or an alphanumeric sender id
	// (1-11 letters, digits, spaces). MessagingServiceID replaces it for
	// providers that pick the sender from a pool; one of them is needed.
	From               string
	MessagingServiceID string
	// MaxSegments caps the parts a message may take; Overflow says what
	// happens above it.
	MaxSegments int
	Overflow    string
	// IdempotencyHeader carries the delivery id, so a provider that
	// supports idempotency keys sends a retried request only once.
	IdempotencyHeader string
	// Timeout bounds one API call.
	Timeout time.Duration
	// Resolver resolves the provider's name (nil: the system's); the
	// dialled address is checked whatever it answers.
	Resolver *net.Resolver
}

// SendTimeout is the time one API call may take: Timeout, or DefaultTimeout
// when it is not set (as New applies it).
func (c Config) SendTimeout() time.Duration { return channel.TimeoutOr(c.Timeout, DefaultTimeout) }

// Enabled reports whether a provider is configured.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// LoadConfig declares and reads the HERALD_SMS_* variables.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		BaseURL:            v.String("HERALD_SMS_BASE_URL", "", "SMS provider API base URL (https); empty disables SMS"),
		MessagesPath:       v.String("HERALD_SMS_MESSAGES_PATH", DefaultMessagesPath, "path of the send-message endpoint below the base URL; {AccountID} is substituted"),
		AccountID:          v.String("HERALD_SMS_ACCOUNT_ID", "", "SMS provider account id (basic-auth user)"),
		AuthToken:          v.String("HERALD_SMS_AUTH_TOKEN", "", "SMS provider auth token (basic-auth password)"),
		From:               v.String("HERALD_SMS_FROM", "", "sender: E.164 number or alphanumeric sender id (or set HERALD_SMS_MESSAGING_SERVICE_ID)"),
		MessagingServiceID: v.String("HERALD_SMS_MESSAGING_SERVICE_ID", "", "provider messaging service id, sent instead of From"),
		MaxSegments:        v.Int("HERALD_SMS_MAX_SEGMENTS", 3, "most parts one SMS may take (160/153 GSM-7 or 70/67 UCS-2 characters each)"),
		Overflow:           v.Enum("HERALD_SMS_OVERFLOW", OverflowTruncate, "what to do with a longer text", OverflowTruncate, OverflowRefuse),
		IdempotencyHeader:  v.String("HERALD_SMS_IDEMPOTENCY_HEADER", "Idempotency-Key", "request header carrying the delivery id as idempotency key"),
		Timeout:            v.Duration(TimeoutVar, DefaultTimeout, "timeout of one SMS API call"),
	}
	if c.Enabled() {
		if err := c.validate(); err != nil {
			for _, e := range unjoin(err) {
				v.Check(false, "%v", e)
			}
		}
	}
	return c
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

var alphanumericSender = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)

func (c Config) validate() error {
	var errs []error
	if _, err := checkBaseURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("HERALD_SMS_BASE_URL: %w", err))
	}
	if c.AccountID == "" {
		errs = append(errs, errors.New("HERALD_SMS_ACCOUNT_ID: must be set when HERALD_SMS_BASE_URL is"))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("HERALD_SMS_AUTH_TOKEN: must be set when HERALD_SMS_BASE_URL is"))
	}
	switch {
	case c.From == "" && c.MessagingServiceID == "":
		errs = append(errs, errors.New("HERALD_SMS_FROM: set it or HERALD_SMS_MESSAGING_SERVICE_ID"))
	case c.From != "" && strings.HasPrefix(c.From, "+"):
		if _, err := E164(c.From); err != nil {
			errs = append(errs, fmt.Errorf("HERALD_SMS_FROM: %w", err))
		}
	case c.From != "" && !alphanumericSender.MatchString(c.From):
		errs = append(errs, fmt.Errorf("HERALD_SMS_FROM: %q is neither an E.164 number nor an alphanumeric sender id (1-11 letters, digits, spaces)", c.From))
	}
	if c.MaxSegments < 1 {
		errs = append(errs, errors.New("HERALD_SMS_MAX_SEGMENTS: must be at least 1"))
	}
	if c.Overflow != OverflowTruncate && c.Overflow != OverflowRefuse {
		errs = append(errs, fmt.Errorf("HERALD_SMS_OVERFLOW: %q is not %s or %s", c.Overflow, OverflowTruncate, OverflowRefuse))
	}
	if !strings.HasPrefix(c.MessagesPath, "/") {
		errs = append(errs, errors.New("HERALD_SMS_MESSAGES_PATH: must start with /"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("HERALD_SMS_TIMEOUT: must be positive"))
	}
	return errors.Join(errs...)
}

// checkBaseURL insists on https, except for a loopback host (a local
// provider stand-in): the auth token travels in every request.
func checkBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if netguard.LoopbackHost(u.Hostname()) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%q must be an https URL (http only for a loopback host)", raw)
}

// E164 validates a phone number and returns it in canonical E.164 form.
// The number must carry its country code ("+" first); separators such as
// spaces are tolerated, national formats are not (there is no region to
// guess from).
func E164(number string) (string, error) {
	n := strings.TrimSpace(number)
	if !strings.HasPrefix(n, "+") {
		return "", fmt.Errorf("phone number %s is not in E.164 form (+<country code><number>)", logging.MaskPhone(n))
	}
	pn, err := phonenumbers.Parse(n, "")
	if err != nil {
		return "", fmt.Errorf("phone number %s: %w", logging.MaskPhone(n), err)
	}
	if !phonenumbers.IsValidNumber(pn) {
		return "", fmt.Errorf("phone number %s is not a valid number", logging.MaskPhone(n))
	}
	return phonenumbers.Format(pn, phonenumbers.E164), nil
}

// Sender sends SMS through the provider. It implements channel.Sender.
type Sender struct {
	cfg      Config
	endpoint string
	client   *http.Client
	logger   *slog.Logger
	now      func() time.Time
}

var _ channel.Sender = (*Sender)(nil)

// New validates cfg and builds a Sender. A nil client gets the default one
// (guardedClient); a caller passing its own client owns its dialling rules.
func New(cfg Config, client *http.Client, logger *slog.Logger) (*Sender, error) {
	if cfg.MessagesPath == "" {
		cfg.MessagesPath = DefaultMessagesPath
	}
	if cfg.MaxSegments == 0 {
		cfg.MaxSegments = 3
	}
	if cfg.Overflow == "" {
		cfg.Overflow = OverflowTruncate
	}
	if cfg.IdempotencyHeader == "" {
		cfg.IdempotencyHeader = "Idempotency-Key"
	}
	cfg.Timeout = cfg.SendTimeout()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("sms config: %w", err)
	}
	if client == nil {
		client = guardedClient(cfg)
	}
	logger = logging.OrDiscard(logger)
	base := strings.TrimRight(cfg.BaseURL, "/")
	path := strings.ReplaceAll(cfg.MessagesPath, "{AccountID}", url.PathEscape(cfg.AccountID))
	return &Sender{cfg: cfg, endpoint: base + path, client: client, logger: logger, now: time.Now}, nil
}

// providerReply covers the common reply shapes: a created message
// ({"sid": ..., "status": ..., "error_code": ...}) and an error
// ({"code": ..., "message": ..., "status": <http status>}).
type providerReply struct {
	SID          string          `json:"sid"`
	ID           string          `json:"id"`
	Status       json.RawMessage `json:"status"`
	ErrorCode    json.RawMessage `json:"error_code"`
	ErrorMessage string          `json:"error_message"`
	Code         json.RawMessage `json:"code"`
	Message      string          `json:"message"`
}

// rawCode renders a JSON number or string error code; "" for null/absent.
func rawCode(r json.RawMessage) string {
	s := strings.Trim(strings.TrimSpace(string(r)), `"`)
	if s == "null" {
		return ""
	}
	return s
}

// Send makes one API call. Network errors, timeouts, 408, 429 (with
// Retry-After) and 5xx are transient; an invalid number, an empty or (with
// OverflowRefuse) too long text, and any other 4xx are permanent.
func (s *Sender) Send(ctx context.Context, m channel.Message) (channel.Result, error) {
	to, err := E164(m.Recipient)
	if err != nil {
		return channel.Result{}, channel.WithReason(channel.Permanent(err), "invalid phone number")
	}
	text := m.Text
	if strings.TrimSpace(text) == "" {
		text, err = Render(m.EventType, m.Locale, m.Payload)
		if err != nil {
			return channel.Result{}, channel.WithReason(channel.Permanent(err), "message could not be rendered")
		}
	}
	info := Analyze(text)
	if info.Segments > s.cfg.MaxSegments {
		if s.cfg.Overflow == OverflowRefuse {
			return channel.Result{}, channel.WithReason(channel.Permanent(fmt.Errorf("sms: text needs %d segments (%s, %d units), more than the %d allowed",
				info.Segments, info.Encoding, info.Units, s.cfg.MaxSegments)), "text too long")
		}
		text = Truncate(text, s.cfg.MaxSegments)
		s.logger.Info("sms text truncated", "delivery_id", m.DeliveryID, "segments", info.Segments, "max_segments", s.cfg.MaxSegments)
		info = Analyze(text)
	}

	form := url.Values{"To": {to}, "Body": {text}}
	if s.cfg.MessagingServiceID != "" {
		form.Set("MessagingServiceSid", s.cfg.MessagingServiceID)
	} else {
		form.Set("From", s.cfg.From)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return channel.Result{}, channel.Permanent(fmt.Errorf("sms: %w", err))
	}
	req.SetBasicAuth(s.cfg.AccountID, s.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Herald-Notifier/1")
	if m.DeliveryID != "" {
		req.Header.Set(s.cfg.IdempotencyHeader, m.DeliveryID)
	}

	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		err = fmt.Errorf("sms provider: %w", err)
		if errors.Is(err, netguard.ErrNotAllowed) {
			return channel.Result{}, channel.Permanent(err)
		}
		return channel.Result{}, channel.Transient(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var reply providerReply
	jsonErr := json.Unmarshal(raw, &reply)

	if err := channel.HTTPStatus(resp.StatusCode, channel.ParseRetryAfter(resp.Header.Get("Retry-After"), s.now())); err != nil {
		detail := ""
		if jsonErr == nil {
			if code := rawCode(reply.Code); code != "" {
				detail = "provider error " + code
			}
			if reply.Message != "" {
				detail = strings.TrimSpace(detail + ": " + reply.Message)
				detail = strings.TrimPrefix(detail, ": ")
			}
		}
		return channel.Result{}, channel.WithDetail(err, detail)
	}
	// Accepted. A reply we cannot read still means the provider took the
	// message: failing here would send it twice.
	id := reply.SID
	if id == "" {
		id = reply.ID
	}
	if code := rawCode(reply.ErrorCode); code != "" && code != "0" {
		return channel.Result{}, channel.WithReason(channel.Permanent(fmt.Errorf("sms provider accepted the request but reported error %s: %s", code, reply.ErrorMessage)),
			"SMS provider reported an error")
	}
	if id == "" {
		s.logger.Warn("sms provider reply carries no message id", "delivery_id", m.DeliveryID, "http_status", resp.StatusCode)
	}
	s.logger.Debug("sms accepted", "delivery_id", m.DeliveryID, "to", logging.MaskPhone(to),
		"provider_id", id, "encoding", string(info.Encoding), "segments", info.Segments)
	return channel.Result{ProviderID: id}, nil
}

// guardedClient dials through internal/netguard: the provider's resolved
// address must be public, unless the operator configured a loopback base
// URL (a local stand-in), which is the explicit development setting here.
// No proxy from the environment (the guard would check the proxy, not the
// provider) and no redirects (the auth token would follow them).
func guardedClient(cfg Config) *http.Client {
	allowLoopback := false
	if u, err := url.Parse(cfg.BaseURL); err == nil {
		allowLoopback = netguard.LoopbackHost(u.Hostname())
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	d := netguard.Dialer(allowLoopback, cfg.Resolver)
	d.Timeout, d.KeepAlive = 30*time.Second, 30*time.Second
	tr.DialContext = d.DialContext
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
