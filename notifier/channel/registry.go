package channel

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// Kind is everything the notifier knows about one channel. A channel's
// package declares its Kind and registers it (Register, from an init
// function); the notifier's gate, consumer, worker, configuration and
// status events work from the registered kinds and name no channel
// themselves. docs/architecture.md ("Adding a channel") walks through it.
type Kind struct {
	// Name is the channel's name on delivery rows, in metrics and logs
	// ("email"): lower case letters and digits. Its upper case ("EMAIL") is
	// the channel's value in the GraphQL enum NotificationChannel (the
	// users service's preferences, the NotificationStatus events).
	Name string
	// Address names what the channel sends to, as the user's preferences
	// hold it ("email address", "phone number"): a user who switched the
	// channel on without one gets SKIPPED with NoAddressReason.
	Address string
	// Provider names who answers a send, in the fixed failure reasons
	// clients see ("mail relay answered HTTP 503"); "" is "receiver".
	Provider string
	// Configure declares the channel's environment variables in v and
	// returns its configuration; problems go to v (v.Check).
	Configure func(v *config.Vars) Config
	// TimeoutVar is the variable that sets the channel's send timeout
	// (Config.SendTimeout), named when the delivery lease is too short.
	// Required.
	TimeoutVar string
	// Render makes what the delivery row stores, at consume time, from the
	// event data (events.OrderCreated, events.OrderCancelled) for a user's
	// name and locale (BCP 47). nil: nothing is rendered (the channel sends
	// the event payload, as the webhook does).
	Render func(event any, name, locale string) (Content, error)
	// Mask hides most of a recipient for logs (internal/logging.MaskEmail).
	// nil masks it entirely.
	Mask func(recipient string) string
}

// Config is one channel's configuration, as its Kind.Configure reads it.
type Config interface {
	// SendTimeout is the longest one Send may take. The delivery lease must
	// exceed the longest of all channels'.
	SendTimeout() time.Duration
	// Open builds the channel's sender. It returns nil and no error when
	// the configuration leaves the channel off (SMS without a provider):
	// the gate then SKIPs the channel's deliveries as not configured.
	Open(logger *slog.Logger) (Sender, error)
}

// Content is what a channel's Render makes: stored on the delivery row, so
// the row holds exactly what is sent.
type Content struct {
	Subject string // email subject ("" for channels without one)
	Text    string // plain-text body (email text part, SMS text)
	HTML    string // HTML body ("" for channels without one)
}

// Enum is the channel's value in the GraphQL enum NotificationChannel and in
// NotificationStatus events: its name in upper case.
func (k Kind) Enum() string { return Enum(k.Name) }

// Enum is the GraphQL NotificationChannel value of the channel named name
// (a delivery row's channel): the name in upper case.
func Enum(name string) string { return strings.ToUpper(name) }

// NoAddressReason is the reason a delivery is SKIPPED when the user switched
// the channel on but gave it no address.
func (k Kind) NoAddressReason() string {
	return k.Name + " enabled but the user has no " + k.Address
}

// MaskRecipient is Mask, or "***" for a kind without one.
func (k Kind) MaskRecipient(r string) string {
	if k.Mask == nil {
		return "***"
	}
	return k.Mask(r)
}

// The registry: kinds by name. Registration happens in init functions, but
// a lock keeps a late Register (a test's) safe beside readers.
var (
	regMu  sync.RWMutex
	reg    = map[string]Kind{}
	sorted []Kind // reg's kinds by name, rebuilt by Register
)

// Register adds channel kinds to the registry. Call it from the channel
// package's init function. It panics on a kind without a name, an address
// or a configuration, and on a name registered twice: those are programming
// errors the first test run shows.
func Register(kinds ...Kind) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, k := range kinds {
		if !validName(k.Name) || k.Address == "" || k.Configure == nil || k.TimeoutVar == "" {
			panic(fmt.Sprintf("channel.Register: kind %q needs a lower-case name, an Address, Configure and TimeoutVar", k.Name))
		}
		if _, dup := reg[k.Name]; dup {
			panic(fmt.Sprintf("channel.Register: channel %q registered twice", k.Name))
		}
		reg[k.Name] = k
		sorted = append(sorted, k)
	}
	slices.SortFunc(sorted, func(a, b Kind) int { return strings.Compare(a.Name, b.Name) })
}

func validName(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

// Kinds returns the registered kinds ordered by name: the order channels
// are decided, configured and documented in.
func Kinds() []Kind {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Clone(sorted)
}

// Lookup returns the registered kind named name.
func Lookup(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := reg[name]
	return k, ok
}

// ByEnum returns the registered kind whose Enum is enum (a GraphQL
// NotificationChannel value); false for IN_APP, which has no delivery rows,
// and for channels this notifier does not know.
func ByEnum(enum string) (Kind, bool) {
	if enum != strings.ToUpper(enum) {
		return Kind{}, false
	}
	return Lookup(strings.ToLower(enum))
}

// Loads adapts a channel's LoadConfig to Kind.Configure.
func Loads[C Config](load func(v *config.Vars) C) func(v *config.Vars) Config {
	return func(v *config.Vars) Config { return load(v) }
}

// Opened adapts a channel's New to Config.Open: a failed New yields a nil
// Sender, not an interface holding a nil pointer.
func Opened[S Sender](s S, err error) (Sender, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// TimeoutOr is a channel's send timeout: d, or the channel's default def
// when d is not set (zero or negative).
func TimeoutOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
