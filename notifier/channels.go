package notifier

import (
	"fmt"
	"log/slog"
	"time"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/notifier/channel"

	// The channels this notifier sends through. Each registers its
	// channel.Kind when imported; no other notifier code names a channel.
	_ "github.com/heraldhq/herald/notifier/channel/email"
	_ "github.com/heraldhq/herald/notifier/channel/sms"
	_ "github.com/heraldhq/herald/notifier/channel/webhook"
)

// Channels holds the channels' own configurations by channel name. Each
// channel's Kind.Configure declares its variables (HERALD_SMTP_*,
// HERALD_MAIL_*, HERALD_SMS_*, HERALD_WEBHOOK_*); the notifier declares
// none of them itself, so no variable is declared twice. A registered
// channel missing from the map is not configured on this notifier.
type Channels map[string]channel.Config

// LoadChannels declares and reads the variables of every registered
// channel. LoadConfig calls it (Config.Channels); call it directly only
// without LoadConfig.
func LoadChannels(v *config.Vars) Channels {
	out := Channels{}
	for _, k := range channel.Kinds() {
		out[k.Name] = k.Configure(v)
	}
	return out
}

// MaxTimeout is the longest time one send may take on any channel. The
// delivery lease must exceed it: a send that outlives its claim could be
// repeated by another worker.
// A zero timeout counts as the channel's default (what its New applies);
// the defaults live in the channel packages, not here.
func (c Channels) MaxTimeout() time.Duration {
	var d time.Duration
	for _, cfg := range c {
		d = max(d, cfg.SendTimeout())
	}
	return d
}

// Senders opens one sender per configured channel whose configuration
// opens one (today: email and webhook always, SMS once a provider is
// configured with HERALD_SMS_BASE_URL). A channel without a sender is
// SKIPPED by the policy gate ("channel not configured").
func (c Channels) Senders(logger *slog.Logger) (map[string]channel.Sender, error) {
	logger = logging.OrDiscard(logger)
	out := map[string]channel.Sender{}
	for _, k := range channel.Kinds() {
		cfg, ok := c[k.Name]
		if !ok {
			continue
		}
		s, err := cfg.Open(logger.With("channel", k.Name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Name, err)
		}
		if s != nil {
			out[k.Name] = s
		}
	}
	return out, nil
}

// LogValue is what the channels' configurations show in the start-up log:
// those that are a slog.LogValuer choose what (the SMTP relay, never
// credentials); the others show nothing.
func (c Channels) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, k := range channel.Kinds() {
		if lv, ok := c[k.Name].(slog.LogValuer); ok {
			attrs = append(attrs, slog.Any(k.Name, lv))
		}
	}
	return slog.GroupValue(attrs...)
}

// Renderer renders what a user gets on one channel for an event's data
// (events.OrderCreated: the order confirmation; events.OrderCancelled: the
// cancellation notice), for their name and locale (BCP 47).
type Renderer func(k channel.Kind, event any, name, locale string) (channel.Content, error)

// RenderLocalized renders with the channel's own per-locale templates
// (Kind.Render; fallback English). The consumer renders at consume time, so
// the row holds exactly what is sent and a template that fails dead-letters
// the event instead of failing a send later. It is the default Renderer.
func RenderLocalized(k channel.Kind, event any, name, locale string) (channel.Content, error) {
	if k.Render == nil {
		return channel.Content{}, nil
	}
	return k.Render(event, name, locale)
}

// renderRow stores on row what its channel sends for the event: the
// channel's rendering (r, nil: RenderLocalized) for the user's name and
// locale. Channels without a Render store nothing.
func renderRow(r Renderer, row *entnotifier.Delivery, event any, name, locale string) error {
	k, ok := channel.Lookup(row.Channel)
	if !ok || k.Render == nil {
		return nil
	}
	if r == nil {
		r = RenderLocalized
	}
	c, err := r(k, event, name, locale)
	if err != nil {
		return fmt.Errorf("render %s for order %s: %w", k.Name, row.OrderID, err)
	}
	row.Subject, row.Body, row.HTMLBody = c.Subject, c.Text, c.HTML
	return nil
}

// maskRecipient hides most of a recipient of channel ch for logs.
func maskRecipient(ch, recipient string) string {
	k, _ := channel.Lookup(ch)
	return k.MaskRecipient(recipient)
}
