package sms

import (
	"log/slog"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/notifier/channel"
)

// Name is the SMS channel's name on delivery rows, in metrics and logs.
const Name = "sms"

// TimeoutVar sets the longest one send may take (Config.SendTimeout).
const TimeoutVar = "HERALD_SMS_TIMEOUT"

// Kind describes the SMS channel to the notifier (channel.Kind): it sends to
// the user's E.164 phone number through the provider's HTTP API, with the
// per-locale text rendered at consume time.
var Kind = channel.Kind{
	Name: Name, Address: "phone number", Provider: "SMS provider",
	Configure: channel.Loads(LoadConfig), TimeoutVar: TimeoutVar,
	Render: func(event any, _, locale string) (channel.Content, error) {
		text, err := RenderEvent(locale, event)
		return channel.Content{Text: text}, err
	},
	Mask: logging.MaskPhone,
}

func init() { channel.Register(Kind) }

// Open builds the SMS sender (channel.Config); none until a provider is
// configured (HERALD_SMS_BASE_URL).
func (c Config) Open(logger *slog.Logger) (channel.Sender, error) {
	if !c.Enabled() {
		return nil, nil
	}
	return channel.Opened(New(c, nil, logger))
}
