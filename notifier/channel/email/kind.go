package email

import (
	"log/slog"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/notifier/channel"
)

// Name is the email channel's name on delivery rows, in metrics and logs.
const Name = "email"

// TimeoutVar sets the longest one send may take (Config.SendTimeout).
const TimeoutVar = "HERALD_SMTP_TIMEOUT"

// Kind describes the email channel to the notifier (channel.Kind): it sends
// to the user's email address through the SMTP relay, with the per-locale
// templates rendered at consume time.
var Kind = channel.Kind{
	Name: Name, Address: "email address", Provider: "mail relay",
	Configure: channel.Loads(LoadConfig), TimeoutVar: TimeoutVar,
	Render: func(event any, name, locale string) (channel.Content, error) {
		c, err := RenderEvent(locale, event, name)
		return channel.Content{Subject: c.Subject, Text: c.Text, HTML: c.HTML}, err
	},
	Mask: logging.MaskEmail,
}

func init() { channel.Register(Kind) }

// Open builds the email sender (channel.Config).
func (c Config) Open(logger *slog.Logger) (channel.Sender, error) {
	return channel.Opened(New(c, logger))
}

// LogValue shows the relay and its transport security in logs, never the
// credentials.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("smtp", c.Addr), slog.String("smtp_tls", c.TLS))
}
