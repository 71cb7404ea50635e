// Package events holds Herald's event contracts: the payload types, their
// topic names and their mapping to CloudEvents 1.0 in binary content mode
// (attributes as ce_* headers, JSON data as the message value).
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/stream"
)

// Default topic names; each is configurable per deployment.
const (
	TopicOrderCreated       = "OrderCreated"
	TopicNotificationStatus = "NotificationStatus"
	// DeadLetterSuffix is appended to a topic to name its dead-letter topic.
	DeadLetterSuffix = ".dlq"
)

// CloudEvents types.
const (
	TypeOrderCreated       = "io.herald.order.created.v1"
	TypeNotificationStatus = "io.herald.notification.status.v1"
)

// Header names. Kafka and NATS use the same names.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderSource      = "ce_source"
	HeaderType        = "ce_type"
	HeaderTime        = "ce_time"
	HeaderSubject     = "ce_subject"
	HeaderContentType = "content-type"
	HeaderTraceParent = "traceparent"
	// HeaderDeadLetterReason says why a message was dead-lettered.
	HeaderDeadLetterReason = "herald_dlq_reason"
)

// OrderItem is one line of an order. Prices are integer minor units (cents).
type OrderItem struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unitPriceMinor"`
}

// OrderCreated is published once an order is committed. Key: user id.
type OrderCreated struct {
	OrderID    string      `json:"orderId"`
	UserID     string      `json:"userId"`
	Items      []OrderItem `json:"items"`
	TotalMinor int64       `json:"totalMinor"`
	Currency   string      `json:"currency"`
	CreatedAt  time.Time   `json:"createdAt"`
}

// Validate checks the invariants a consumer relies on.
func (o OrderCreated) Validate() error {
	errs := idErrors(o.OrderID, o.UserID)
	if len(o.Items) == 0 {
		errs = append(errs, errors.New("items is empty"))
	}
	return errors.Join(append(errs, currencyError(o.Currency))...)
}

// idErrors reports the ids missing from an order event.
func idErrors(orderID, userID string) []error {
	var errs []error
	if orderID == "" {
		errs = append(errs, errors.New("orderId is empty"))
	}
	if userID == "" {
		errs = append(errs, errors.New("userId is empty"))
	}
	return errs
}

// currencyError refuses a currency that is not an ISO 4217 code (nil when
// it is one: errors.Join leaves it out).
func currencyError(currency string) error {
	if len(currency) != 3 {
		return fmt.Errorf("currency %q is not an ISO 4217 code", currency)
	}
	return nil
}

// Envelope is the CloudEvents context of a message.
type Envelope struct {
	ID          string
	Source      string
	Type        string
	Subject     string
	Time        time.Time
	TraceParent string
}

// Encode builds a binary-mode CloudEvent message carrying data as JSON.
func Encode(topic, key string, env Envelope, data any) (stream.Message, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return stream.Message{}, fmt.Errorf("encode %s: %w", env.Type, err)
	}
	h := []stream.Header{
		{Key: HeaderSpecVersion, Value: "1.0"},
		{Key: HeaderID, Value: env.ID},
		{Key: HeaderSource, Value: env.Source},
		{Key: HeaderType, Value: env.Type},
		{Key: HeaderTime, Value: env.Time.UTC().Format(time.RFC3339Nano)},
		{Key: HeaderContentType, Value: "application/json"},
	}
	if env.Subject != "" {
		h = append(h, stream.Header{Key: HeaderSubject, Value: env.Subject})
	}
	if env.TraceParent != "" {
		h = append(h, stream.Header{Key: HeaderTraceParent, Value: env.TraceParent})
	}
	return stream.Message{Topic: topic, Key: key, Headers: h, Value: body}, nil
}

// Decode reads the CloudEvents context of m and unmarshals its data into out.
// The error says precisely what is wrong, for the dead-letter reason.
func Decode(m stream.Message, wantType string, out any) (Envelope, error) {
	env := Envelope{
		ID:          m.Header(HeaderID),
		Source:      m.Header(HeaderSource),
		Type:        m.Header(HeaderType),
		Subject:     m.Header(HeaderSubject),
		TraceParent: m.Header(HeaderTraceParent),
	}
	if v := m.Header(HeaderSpecVersion); v != "1.0" {
		return env, fmt.Errorf("ce_specversion %q is not 1.0", v)
	}
	if env.ID == "" {
		return env, errors.New("ce_id is missing")
	}
	if env.Type != wantType {
		return env, fmt.Errorf("ce_type %q, want %q", env.Type, wantType)
	}
	if t := m.Header(HeaderTime); t != "" {
		ts, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return env, fmt.Errorf("ce_time %q: %w", t, err)
		}
		env.Time = ts
	}
	if err := json.Unmarshal(m.Value, out); err != nil {
		return env, fmt.Errorf("data is not a valid %s: %w", wantType, err)
	}
	return env, nil
}

// Notification channels.
const (
	ChannelEmail   = "EMAIL"
	ChannelSMS     = "SMS"
	ChannelWebhook = "WEBHOOK"
	ChannelInApp   = "IN_APP"
)

// Notification statuses. A notification's status only moves forward:
// PENDING → (DEFERRED | RETRYING)* → SENT | FAILED | SKIPPED.
const (
	StatusPending  = "PENDING"  // recorded, due now
	StatusDeferred = "DEFERRED" // held until a quiet-hours window ends
	StatusRetrying = "RETRYING" // a transient failure; another attempt is scheduled
	StatusSent     = "SENT"     // accepted by the provider (for SMTP: by the relay)
	StatusFailed   = "FAILED"   // a permanent failure, or attempts exhausted
	StatusSkipped  = "SKIPPED"  // will not be sent (channel unusable, user deleted)
)

// Statuses are the published statuses in the order a delivery moves through
// them: the one list the notifier's ent enums (ent/notifier/schema) are
// made from. The GraphQL enum NotificationDeliveryStatus must list the same
// values (a test in notifier checks it).
var Statuses = []string{StatusPending, StatusDeferred, StatusRetrying, StatusSent, StatusFailed, StatusSkipped}

// What a notification is about: the kind of event that caused it, as the
// NotificationStatus event's "event" field and the GraphQL enum
// NotificationEvent name it. One order has one notification per channel for
// each of these, told apart by this field (and by eventId).
const (
	EventOrderCreated   = "ORDER_CREATED"
	EventOrderCancelled = "ORDER_CANCELLED"
)

// EventKind maps a CloudEvents type to what a notification is about
// (EventOrderCreated, ...); "" for a type no notification is made from.
func EventKind(ceType string) string {
	switch ceType {
	case TypeOrderCreated:
		return EventOrderCreated
	case TypeOrderCancelled:
		return EventOrderCancelled
	}
	return ""
}

// NotificationStatus is published on every status change of one delivery.
// Key: order id, so that the statuses of one order arrive in order.
type NotificationStatus struct {
	NotificationID string `json:"notificationId"`
	EventID        string `json:"eventId"`
	// Event is what the notification is about (EventOrderCreated,
	// EventOrderCancelled); absent from events published before it existed.
	Event         string     `json:"event,omitempty"`
	OrderID       string     `json:"orderId"`
	UserID        string     `json:"userId"`
	Channel       string     `json:"channel"`
	Status        string     `json:"status"`
	Attempt       int        `json:"attempt"`
	Reason        string     `json:"reason,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	Time          time.Time  `json:"time"`
}

// ValidTraceParent checks the W3C traceparent form
// version-traceid-parentid-flags, all lower-case hex: 00-<32>-<16>-<2>, ids
// not all zero, version ff refused; later versions may append fields. The
// router (incoming headers) and the notifier (events it stores) share it.
func ValidTraceParent(s string) bool {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if !lowerHex(s[:2]) || !lowerHex(s[3:35]) || !lowerHex(s[36:52]) || !lowerHex(s[53:55]) {
		return false
	}
	switch {
	case s[:2] == "ff":
		return false
	case s[:2] == "00" && len(s) != 55:
		return false
	case len(s) > 55 && s[55] != '-':
		return false
	}
	return strings.Trim(s[3:35], "0") != "" && strings.Trim(s[36:52], "0") != ""
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
