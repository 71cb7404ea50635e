// Package channel is the contract between the notifier's delivery workers
// and the channels that actually send (email, SMS, webhook, ...).
//
// Each channel's package declares a Kind (registry.go) and registers it:
// its name, the address it needs, how it renders, masks recipients and
// sends. The notifier works from the registered kinds only.
//
// The worker owns the delivery row, its status, retries and status events.
// A channel owns one thing: turning a Message into one attempt at the
// provider and saying, through the error it returns, whether trying again
// could help. Implementations live in sub-packages (notifier/channel/sms,
// notifier/channel/webhook, ...); this file is the only shared surface.
//
// Rules for implementations:
//   - Send makes exactly one attempt; never retry inside Send (the worker
//     stores the schedule so retries survive restarts).
//   - Send must honour ctx: its deadline is the worker's lease on the row,
//     and a send that outlives it could be repeated by another worker.
//   - Use Message.DeliveryID as the provider idempotency key / stable
//     message id where the provider supports one: the worker may call Send
//     again for the same delivery after a crash between the provider's
//     accept and the database commit.
//   - Return nil only when the provider accepted the message.
//   - Classify failures: wrap with Permanent when retrying cannot help
//     (HTTP 4xx other than 408/429, SMTP 5xx, an unusable address), with
//     Transient (optionally WithRetryAfter) otherwise. An unclassified error
//     is treated as transient. HTTPStatus does the HTTP mapping.
//   - Never log full recipients (use internal/logging.MaskEmail/MaskPhone).
package channel

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Message is one delivery attempt handed to a channel.
type Message struct {
	DeliveryID string // stable across attempts: idempotency key, Message-ID seed
	EventID    string // ce_id of the event that caused it
	OrderID    string
	UserID     string
	Channel    string // the channel's Kind.Name
	Attempt    int    // 1-based attempt number
	Recipient  string // email address, E.164 phone number, or webhook URL
	Subject    string // email subject (empty for other channels)
	Text       string // plain-text body (email text part, SMS text)
	HTML       string // email HTML part (may be empty)
	Locale     string // BCP 47 locale of the user ("" = default)
	Category   string // notification category, e.g. ORDER_UPDATES, MARKETING
	Critical   bool   // critical category: no List-Unsubscribe, opt-outs did not apply
	// EventType is the CloudEvents type of Payload (e.g. events.TypeOrderCreated).
	EventType string
	// Payload is the JSON event data (e.g. events.OrderCreated) the message
	// was made from: the webhook body, or the data for channel-side templates
	// when Subject/Text are empty.
	Payload []byte
	// Secret is channel-specific key material the worker looked up for this
	// recipient (e.g. a webhook signing secret); never log it.
	Secret string
	// Headers are extra channel headers (e.g. List-Unsubscribe for email).
	Headers map[string]string
}

// Result is what the provider said when it accepted a message.
type Result struct {
	ProviderID string // Message-ID, SMS provider id, webhook response id, ...
}

// Sender sends one message over one channel.
type Sender interface {
	Send(ctx context.Context, m Message) (Result, error)
}

// Error is a classified send failure.
type Error struct {
	Permanent  bool
	RetryAfter time.Duration // provider-requested wait (e.g. HTTP Retry-After); 0 = none
	// Reason is the fixed text clients see for it ("" = PublicReason
	// derives one); Err keeps the detail for logs and last_error.
	Reason string
	Err    error
}

func (e *Error) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Err == nil {
		return kind + " send failure"
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as a failure that retrying cannot fix. nil stays nil.
func Permanent(err error) error { return classified(err, Error{Permanent: true}) }

// Transient marks err as a failure worth retrying. nil stays nil.
func Transient(err error) error { return classified(err, Error{}) }

// WithRetryAfter marks err transient with a provider-requested delay; the
// worker waits at least that long before the next attempt. nil stays nil.
func WithRetryAfter(err error, d time.Duration) error {
	return classified(err, Error{RetryAfter: d})
}

// classified is err with the classification e; nil stays nil.
func classified(err error, e Error) error {
	if err == nil {
		return nil
	}
	e.Err = err
	return &e
}

// IsPermanent reports whether err is a permanent failure. Errors that are
// not classified, timeouts and cancellations are transient.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Permanent
	}
	return false
}

// RetryAfterOf returns the provider-requested delay carried by err, if any.
func RetryAfterOf(err error) time.Duration {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.RetryAfter
	}
	return 0
}

// HTTPStatus classifies a non-2xx HTTP response: 408, 429 and 5xx are
// transient, any other 4xx permanent. It returns nil for 2xx.
func HTTPStatus(code int, retryAfter time.Duration) error {
	if code >= 200 && code < 300 {
		return nil
	}
	err := &StatusError{Code: code}
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &Error{Err: err, RetryAfter: retryAfter}
	case code >= 400:
		return &Error{Permanent: true, Err: err}
	default: // 1xx/3xx: not followed, not accepted; trying again may differ
		return &Error{Err: err}
	}
}

func statusText(code int) string { return http.StatusText(code) }
