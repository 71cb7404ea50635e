package notifier

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

// Channels holds the channels' own configurations. Each channel package
// declares its variables (HERALD_SMTP_*, HERALD_MAIL_*, HERALD_SMS_*,
// HERALD_WEBHOOK_*); the notifier declares none of them itself, so no
// variable is declared twice.
type Channels struct {
	Email   email.Config
	SMS     sms.Config
	Webhook webhook.Config
}

// LoadChannels declares and reads the channels' variables. LoadConfig calls
// it (Config.Channels); call it directly only without LoadConfig.
func LoadChannels(v *config.Vars) Channels {
	return Channels{Email: email.LoadConfig(v), SMS: sms.LoadConfig(v), Webhook: webhook.LoadConfig(v)}
}

// MaxTimeout is the longest time one send may take on any channel. The
// delivery lease must exceed it: a send that outlives its claim could be
// repeated by another worker.
// A zero timeout counts as the channel's default (what its New applies);
// the defaults live in the channel packages, not here.
func (c Channels) MaxTimeout() time.Duration {
	return max(c.Email.SendTimeout(), c.SMS.SendTimeout(), c.Webhook.SendTimeout())
}

// Senders builds one sender per configured channel: email and webhook
// always, SMS once a provider is configured (HERALD_SMS_BASE_URL). A channel
// without a sender is SKIPPED by the policy gate ("channel not configured").
func (c Channels) Senders(logger *slog.Logger) (map[string]channel.Sender, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	out := map[string]channel.Sender{}
	e, err := email.New(c.Email, logger.With("channel", channel.Email))
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	out[channel.Email] = e
	if c.SMS.Enabled() {
		s, err := sms.New(c.SMS, nil, logger.With("channel", channel.SMS))
		if err != nil {
			return nil, fmt.Errorf("sms: %w", err)
		}
		out[channel.SMS] = s
	}
	w, err := webhook.New(c.Webhook, logger.With("channel", channel.Webhook))
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	out[channel.Webhook] = w
	return out, nil
}

// Email is a rendered message, ready to store on a delivery row.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// Renderer renders the email a user gets for an event's data
// (events.OrderCreated: the order confirmation; events.OrderCancelled: the
// cancellation notice), for their name and locale (BCP 47).
type Renderer func(event any, name, locale string) (Email, error)

// RenderLocalized renders with the email channel's per-locale templates
// (fallback English). The consumer renders at consume time, so the row holds
// exactly what is sent and a template that fails dead-letters the event
// instead of failing a send later. It is the default Renderer.
func RenderLocalized(event any, name, locale string) (Email, error) {
	c, err := email.RenderEvent(locale, event, name)
	if err != nil {
		return Email{}, err
	}
	return Email{Subject: c.Subject, Text: c.Text, HTML: c.HTML}, nil
}
