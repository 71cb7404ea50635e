package notifier

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/notifier/channel"
)

// UserStatus is what the users service knows about a user.
type UserStatus string

const (
	UserActive   UserStatus = "ACTIVE"
	UserDeleted  UserStatus = "DELETED"   // erased: send nothing
	UserNotFound UserStatus = "NOT_FOUND" // never existed: send nothing
)

// Categories the notifier sends.
const (
	CategoryOrderUpdates = "ORDER_UPDATES"
	CategoryMarketing    = "MARKETING"
)

// Reasons recorded on deliveries the gate did not make PENDING. Skips with a
// row carry the reason in their SKIPPED status event; choices the user made
// (channel off, category off, opted out) create no row at all. A channel
// enabled without an address is skipped with its Kind.NoAddressReason.
const (
	ReasonChannelUnavailable = "channel not configured on this notifier"
	// ReasonSecretUnavailable: the webhook secret stored for the delivery
	// did not open (HERALD_NOTIFIER_SECRET_KEY; details in last_error).
	ReasonSecretUnavailable = "webhook secret unavailable"
	ReasonQuietHours        = "quiet hours"
	ReasonChannelOff        = "channel switched off"
	ReasonCategoryOff       = "category switched off"
	ReasonOptedOut          = "opted out of this category on this channel"
	// ReasonUserDeleted skips a deferred delivery whose user was deleted
	// before its quiet hours ended.
	ReasonUserDeleted = "user deleted"
)

// ChannelPref is one channel's switch and address.
type ChannelPref struct {
	Enabled bool
	Address string // what the channel sends to (Kind.Address); "" when none
	Secret  string // webhook signing secret
}

// CategoryPref is the user's choice for one category, defaults applied.
type CategoryPref struct {
	Critical bool            // opt-outs and quiet hours do not apply
	Enabled  bool            // the user's choice or the category default
	OptedOut map[string]bool // channel name → opted out
}

// QuietHours is a daily window ("22:00"–"07:00" spans midnight) in an IANA zone.
type QuietHours struct {
	Start, End string // HH:MM, start inclusive, end exclusive
	TimeZone   string
}

// Policy is everything the gate needs about one user: the internal form of
// the users service's preference model (see users.go for the mapping).
type Policy struct {
	UserID     string
	Status     UserStatus
	Name       string
	Locale     string
	Channels   map[string]ChannelPref  // by channel name (channel.Kind.Name)
	Categories map[string]CategoryPref // by category
	Quiet      *QuietHours
}

// Decision is the gate's verdict for one channel. Status "" means no row is
// created (Reason says why); otherwise Status is events.StatusPending,
// StatusDeferred (due at DueAt, the end of the quiet window) or
// StatusSkipped (Reason).
type Decision struct {
	Channel   string
	Status    string
	Reason    string
	Recipient string
	Secret    string
	DueAt     time.Time
	Critical  bool
}

// Decide is the one decision point: for a notification of category to the
// user described by p, at time now, it returns one Decision per registered
// channel (channel.Kinds; in-app is the status event stream itself and has
// no rows).
// available says which channels this notifier can send; it is pure.
//
// Rules, in order:
//  1. user not ACTIVE (deleted or unknown) → nothing at all;
//  2. channel switched off → no row;
//  3. category not critical and switched off, or the channel opted out of
//     it → no row (critical categories ignore both);
//  4. no address for the channel → SKIPPED with the reason;
//  5. channel not configured here → SKIPPED with the reason;
//  6. not critical and now inside quiet hours → DEFERRED until the window's
//     end in the user's zone (never dropped);
//  7. otherwise PENDING, due now.
func Decide(p Policy, category string, now time.Time, available map[string]bool) []Decision {
	if p.Status != UserActive {
		return nil
	}
	cat, ok := p.Categories[category]
	if !ok {
		// A category the users service does not list: deliver as a
		// non-critical category that is on (the safe reading for
		// transactional mail the notifier was asked to send).
		cat = CategoryPref{Enabled: true}
	}
	var deferUntil time.Time
	if !cat.Critical && p.Quiet != nil {
		deferUntil, _ = p.Quiet.windowEnd(now)
	}
	kinds := channel.Kinds()
	out := make([]Decision, 0, len(kinds))
	for _, k := range kinds {
		ch := k.Name
		pref := p.Channels[ch]
		d := Decision{Channel: ch, Recipient: pref.Address, Secret: pref.Secret, Critical: cat.Critical, DueAt: now}
		switch {
		case !pref.Enabled:
			d.Reason = ReasonChannelOff
		case !cat.Critical && !cat.Enabled:
			d.Reason = ReasonCategoryOff
		case !cat.Critical && cat.OptedOut[ch]:
			d.Reason = ReasonOptedOut
		case pref.Address == "":
			d.Status, d.Reason = events.StatusSkipped, k.NoAddressReason()
		case !available[ch]:
			d.Status, d.Reason = events.StatusSkipped, ReasonChannelUnavailable
		case !deferUntil.IsZero():
			d.Status, d.Reason, d.DueAt = events.StatusDeferred, ReasonQuietHours, deferUntil
		default:
			d.Status = events.StatusPending
		}
		out = append(out, d)
	}
	return out
}

// windowEnd returns the end of the quiet window that contains now, or the
// zero time when now is outside it. An unknown zone or malformed time is an
// error and means "no quiet hours" (the users service validates both, so
// this is a safety net, not a policy).
func (q QuietHours) windowEnd(now time.Time) (time.Time, error) {
	loc, err := time.LoadLocation(q.TimeZone)
	if err != nil {
		return time.Time{}, fmt.Errorf("quiet hours zone %q: %w", q.TimeZone, err)
	}
	start, err1 := clockMinutes(q.Start)
	end, err2 := clockMinutes(q.End)
	if err1 != nil || err2 != nil || start == end {
		return time.Time{}, fmt.Errorf("quiet hours %q–%q are not HH:MM–HH:MM", q.Start, q.End)
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	y, mo, d := local.Date()
	at := func(dayOffset, minutes int) time.Time {
		return time.Date(y, mo, d+dayOffset, minutes/60, minutes%60, 0, 0, loc).UTC()
	}
	switch {
	case start < end && m >= start && m < end: // same-day window
		return at(0, end), nil
	case start > end && m >= start: // spans midnight, before it
		return at(1, end), nil
	case start > end && m < end: // spans midnight, after it
		return at(0, end), nil
	}
	return time.Time{}, nil
}

func clockMinutes(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return hh*60 + mm, nil
}
