package users

import (
	"errors"
	"slices"
	"time"

	entusers "github.com/heraldhq/herald/ent/users"
	"github.com/heraldhq/herald/ent/users/schema"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// Channels in the order they are listed everywhere: the GraphQL enum
// NotificationChannel's (schema/users.graphqls), generated.
var allChannels = model.AllNotificationChannel

// categoryDefaults is the catalogue: whether a category is on for a user
// who never chose. Which categories are critical is configuration
// (HERALD_CRITICAL_CATEGORIES), since it is an operator's promise.
var categoryDefaults = map[model.NotificationCategory]bool{
	model.NotificationCategoryOrderUpdates: true,
	model.NotificationCategoryMarketing:    false,
}

// Policy evaluates stored preferences. It is the single place where the
// rules of docs/users.md live.
type Policy struct {
	Critical map[model.NotificationCategory]bool
}

// channelState is one channel of a user: the switch and the address.
type channelState struct {
	enabled bool
	address *string
}

func (c channelState) usable(ch model.NotificationChannel) bool {
	return c.enabled && (ch == model.NotificationChannelInApp || (c.address != nil && *c.address != ""))
}

// channelsOf is where the users service keeps each channel's switch and
// address: the one table a new channel with a new kind of address extends.
func channelsOf(u *entusers.User) map[model.NotificationChannel]channelState {
	return map[model.NotificationChannel]channelState{
		model.NotificationChannelEmail:   {u.EmailEnabled, u.Email},
		model.NotificationChannelSms:     {u.SmsEnabled, u.Phone},
		model.NotificationChannelWebhook: {u.WebhookEnabled, u.WebhookURL},
		model.NotificationChannelInApp:   {u.InAppEnabled, nil},
	}
}

// category is the effective state of one category for a user.
type category struct {
	critical bool
	enabled  bool
	optedOut []model.NotificationChannel
}

func (p Policy) category(u *entusers.User, c model.NotificationCategory) category {
	stored := u.Categories[string(c)]
	out := category{critical: p.Critical[c], enabled: categoryDefaults[c], optedOut: []model.NotificationChannel{}}
	if stored.Enabled != nil {
		out.enabled = *stored.Enabled
	}
	if out.critical {
		out.enabled = true
	}
	for _, ch := range stored.OptOut {
		out.optedOut = append(out.optedOut, model.NotificationChannel(ch))
	}
	return out
}

// skip returns why channel ch does not deliver category cat, or "" when it does.
func skip(cat category, ch model.NotificationChannel, st channelState) model.SkipReason {
	switch {
	case !cat.enabled:
		return model.SkipReasonCategoryOff
	case !st.enabled:
		return model.SkipReasonChannelOff
	case !cat.critical && slices.Contains(cat.optedOut, ch):
		return model.SkipReasonOptedOut
	case !st.usable(ch):
		return model.SkipReasonNoAddress
	}
	return ""
}

// Preferences is the GraphQL view of a user's preferences.
func (p Policy) Preferences(u *entusers.User) *model.NotificationPreferences {
	chans := channelsOf(u)
	out := &model.NotificationPreferences{
		Email:   u.EmailEnabled,
		Sms:     u.SmsEnabled,
		Webhook: u.WebhookEnabled,
		InApp:   u.InAppEnabled,
		Locale:  u.Locale,
	}
	for _, ch := range allChannels {
		st := chans[ch]
		out.Channels = append(out.Channels, model.ChannelPreference{
			Channel: ch, Enabled: st.enabled, Address: st.address, Usable: st.usable(ch),
		})
	}
	for _, c := range model.AllNotificationCategory {
		cat := p.category(u, c)
		cp := model.CategoryPreference{
			Category: c, Critical: cat.critical, Enabled: cat.enabled,
			OptedOut: cat.optedOut, Channels: []model.NotificationChannel{},
		}
		for _, ch := range allChannels {
			if skip(cat, ch, chans[ch]) == "" {
				cp.Channels = append(cp.Channels, ch)
			}
		}
		out.Categories = append(out.Categories, cp)
	}
	if u.QuietStart != nil && u.QuietEnd != nil && u.QuietTimeZone != nil {
		out.QuietHours = &model.QuietHours{Start: *u.QuietStart, End: *u.QuietEnd, TimeZone: *u.QuietTimeZone}
	}
	return out
}

// Decide computes the notification policy of u (nil: no such user) for
// one category at time at. secret opens the stored webhook secret; it is
// called only when the webhook delivers.
// errSecretWithheld tells Decide to leave signingSecret null: the caller
// may see the decision but not the secret.
var errSecretWithheld = errors.New("signing secret withheld")

func (p Policy) Decide(userID string, u *entusers.User, c model.NotificationCategory, at time.Time,
	secret func(u *entusers.User) (string, error),
) (*model.NotificationPolicy, error) {
	out := &model.NotificationPolicy{
		UserID: userID, Category: c, Critical: p.Critical[c], Locale: "en",
		Deliveries: make([]model.ChannelDecision, 0, len(allChannels)),
	}
	var gone model.SkipReason
	switch {
	case u == nil:
		out.Status, gone = model.UserStatusNotFound, model.SkipReasonUserNotFound
	case u.DeletedAt != nil:
		out.Status, gone = model.UserStatusDeleted, model.SkipReasonUserDeleted
	default:
		out.Status = model.UserStatusActive
	}
	if gone != "" {
		for _, ch := range allChannels {
			out.Deliveries = append(out.Deliveries, model.ChannelDecision{Channel: ch, Reason: &gone})
		}
		return out, nil
	}
	out.Name, out.Locale = &u.Name, u.Locale
	cat := p.category(u, c)
	chans := channelsOf(u)
	for _, ch := range allChannels {
		d := model.ChannelDecision{Channel: ch}
		if r := skip(cat, ch, chans[ch]); r != "" {
			d.Reason = &r
		} else {
			d.Deliver = true
			d.Address = chans[ch].address
			if ch == model.NotificationChannelWebhook {
				if u.WebhookSecret == nil {
					// A webhook URL always comes with a secret; this row was
					// written by hand. Deliver nothing rather than unsigned.
					r := model.SkipReasonNoAddress
					d = model.ChannelDecision{Channel: ch, Reason: &r}
				} else {
					s, err := secret(u)
					switch {
					case errors.Is(err, errSecretWithheld):
						// not the notifier asking: the secret stays null
					case err != nil:
						return nil, err
					default:
						d.SigningSecret = &s
					}
				}
			}
		}
		out.Deliveries = append(out.Deliveries, d)
	}
	if !cat.critical {
		if q := quietHoursOf(u); q != nil {
			out.DeferUntil = q.deferUntil(at)
		}
	}
	return out, nil
}

// quietWindow is a user's quiet hours, ready to evaluate.
type quietWindow struct {
	start, end int // minutes since local midnight
	loc        *time.Location
}

func quietHoursOf(u *entusers.User) *quietWindow {
	if u.QuietStart == nil || u.QuietEnd == nil || u.QuietTimeZone == nil {
		return nil
	}
	// Stored values were validated on the way in; a row that fails now
	// (a zone removed from the database) is treated as having no quiet
	// hours rather than blocking every notification.
	_, s, err1 := NormalizeLocalTime(*u.QuietStart, "")
	_, e, err2 := NormalizeLocalTime(*u.QuietEnd, "")
	loc, err3 := time.LoadLocation(*u.QuietTimeZone)
	if err1 != nil || err2 != nil || err3 != nil || s == e {
		return nil
	}
	return &quietWindow{start: s, end: e, loc: loc}
}

// deferUntil returns the end of the quiet window containing at, or nil
// when at is outside the window. Minutes are the granularity: 06:59:59 is
// inside a window ending at 07:00. The result is always after at.
func (q quietWindow) deferUntil(at time.Time) *time.Time {
	local := at.In(q.loc)
	m := local.Hour()*60 + local.Minute()
	var inside bool
	if q.start < q.end {
		inside = q.start <= m && m < q.end
	} else { // spans midnight
		inside = m >= q.start || m < q.end
	}
	if !inside {
		return nil
	}
	y, mo, d := local.Date()
	if m >= q.end { // the window ends tomorrow
		d++
	}
	end := time.Date(y, mo, d, q.end/60, q.end%60, 0, 0, q.loc)
	if wall := end.Hour()*60 + end.Minute(); wall != q.end {
		// The end fell in the hour a clock change skipped (02:30 on a
		// spring-forward night), and time.Date moved it to the other side
		// of the jump: the window ended when the clock jumped.
		start, next := end.ZoneBounds()
		if wall < q.end {
			end = next
		} else {
			end = start
		}
	}
	if !end.After(at) {
		// A clock change repeated the end time and time.Date picked its
		// earlier occurrence: wait the remaining wall-clock minutes instead.
		end = at.Truncate(time.Minute).Add(time.Duration((q.end-m+24*60)%(24*60)) * time.Minute)
		if !end.After(at) {
			end = at.Add(time.Minute)
		}
	}
	end = end.UTC()
	return &end
}

// applyCategories returns stored categories with the patch applied.
func applyCategories(stored map[string]schema.CategoryPreference, patch map[string]CategoryPatch) map[string]schema.CategoryPreference {
	out := make(map[string]schema.CategoryPreference, len(stored)+len(patch))
	for k, v := range stored {
		out[k] = v
	}
	for k, p := range patch {
		cur := out[k]
		if p.Enabled != nil {
			v := *p.Enabled
			cur.Enabled = &v
		}
		if p.OptedOut != nil {
			cur.OptOut = slices.Clone(*p.OptedOut)
		}
		out[k] = cur
	}
	return out
}
