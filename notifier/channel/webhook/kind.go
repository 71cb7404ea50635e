package webhook

import (
	"log/slog"

	"github.com/heraldhq/herald/notifier/channel"
)

// Name is the webhook channel's name on delivery rows, in metrics and logs.
const Name = "webhook"

// TimeoutVar sets the longest one send may take (Config.SendTimeout).
const TimeoutVar = "HERALD_WEBHOOK_TIMEOUT"

// Kind describes the webhook channel to the notifier (channel.Kind): it
// POSTs the event payload, signed with the user's secret, to the user's
// webhook URL. Nothing is rendered, and the URL (which may carry a token)
// is never logged.
var Kind = channel.Kind{
	Name: Name, Address: "webhook URL",
	Configure: channel.Loads(LoadConfig), TimeoutVar: TimeoutVar,
}

func init() { channel.Register(Kind) }

// Open builds the webhook sender (channel.Config).
func (c Config) Open(logger *slog.Logger) (channel.Sender, error) {
	return channel.Opened(New(c, logger))
}
