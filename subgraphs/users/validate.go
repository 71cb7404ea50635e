package users

import (
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zones must resolve the same on a minimal image without /usr/share/zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/textsafe"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// Limits on input. The database columns are at least this wide, so a value
// that passes here is never refused by the database.
const (
	MaxNameRunes     = 200
	MaxEmailBytes    = 254 // RFC 5321's limit on a forward path
	MaxWebhookURL    = 2048
	MaxTimeZoneBytes = 64
	MaxLocaleBytes   = 35 // the longest tag the column holds; real tags are far shorter
	maxPhoneLength   = 64 // raw input, before normalisation; E.164 itself is ≤ 16
)

// Field names reported in extensions.field, as paths into the mutation's arguments.
const (
	fieldName  = "input.name"
	fieldEmail = "input.email"
	fieldPhone = "input.phone"
)

// Registration is a validated, normalised registerUser input.
type Registration struct {
	Name        string  // trimmed
	Email       string  // bare address, lower-cased
	Phone       *string // E.164, nil when none was given
	Preferences PrefsPatch
}

// ValidateRegistration checks and normalises a registerUser input. It
// returns the first problem, in field order, as a BAD_USER_INPUT
// *apperr.Error naming the field.
func ValidateRegistration(in model.RegisterUserInput) (Registration, error) {
	name, err := NormalizeName(in.Name)
	if err != nil {
		return Registration{}, err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return Registration{}, err
	}
	reg := Registration{Name: name, Email: email}
	if p := in.Phone.Value(); p != nil {
		phone, err := NormalizePhone(*p)
		if err != nil {
			return Registration{}, err
		}
		if phone != "" {
			reg.Phone = &phone
		}
	}
	if p := in.Preferences.Value(); p != nil {
		reg.Preferences, err = ValidatePreferences(*p, "input.preferences.")
		if err != nil {
			return Registration{}, err
		}
	}
	return reg, nil
}

// NormalizeName trims a display name and refuses empty and over-long names
// and those holding characters internal/textsafe refuses: names end up in
// email headers and SMS bodies, where a newline would let a user inject
// content and a bidirectional override would disguise it.
func NormalizeName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", apperr.Invalid(fieldName, "name must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", apperr.Invalid(fieldName, "name must not be empty")
	case utf8.RuneCountInString(s) > MaxNameRunes:
		return "", apperr.Invalid(fieldName, "name must be at most %d characters", MaxNameRunes)
	}
	if p := textsafe.Problem(s); p != "" {
		return "", apperr.Invalid(fieldName, "name must not contain %s: control, line-separator and bidirectional formatting characters are not allowed", p)
	}
	return s, nil
}

// NormalizeEmail accepts a bare address ("ada@example.com", no display name,
// no comments, no angle brackets) and returns it lower-cased. Lower-casing
// the whole address, local part included, is a deliberate simplification:
// it makes the unique index catch the duplicates people actually create.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", apperr.Invalid(fieldEmail, "email must be valid UTF-8")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", apperr.Invalid(fieldEmail, "email must not be empty")
	}
	if len(s) > MaxEmailBytes {
		return "", apperr.Invalid(fieldEmail, "email must be at most %d bytes", MaxEmailBytes)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", apperr.Invalid(fieldEmail, "email must be a bare address such as ada@example.com")
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	if strings.HasPrefix(domain, "[") {
		return "", apperr.Invalid(fieldEmail, "email must name a domain, not an address literal such as [127.0.0.1]")
	}
	if !mailDomain(domain) {
		return "", apperr.Invalid(fieldEmail, "email domain must be a full domain name with a dot, such as example.com")
	}
	return s, nil
}

// mailDomain accepts a fully qualified host name: at least two labels of
// letters, digits and hyphens (or non-ASCII, for internationalised
// domains), none starting or ending with a hyphen, and a top-level label
// that is not all digits (so "1.2.3.4" is no domain). A public-suffix check
// would refuse new top-level domains until the list is updated; the dot
// rule refuses what mail relays refuse ("a@b", "a@localhost").
func mailDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > unicode.MaxASCII && unicode.IsLetter(r) || r > unicode.MaxASCII && unicode.IsDigit(r) || r > unicode.MaxASCII && unicode.Is(unicode.Mn, r)) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.TrimFunc(tld, func(r rune) bool { return r >= '0' && r <= '9' }) != ""
}

// NormalizePhone returns a phone number in E.164 form, or "" for a blank
// input (no phone). The number must carry its country code: without a
// leading "+" we would have to guess a region and could text a stranger.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > maxPhoneLength || !utf8.ValidString(s) {
		return "", apperr.Invalid(fieldPhone, "phone is not a valid phone number")
	}
	if !strings.HasPrefix(s, "+") {
		return "", apperr.Invalid(fieldPhone, "phone must start with + and the country code, such as +4930123456")
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", apperr.Invalid(fieldPhone, "phone is not a valid phone number")
	}
	if num.GetExtension() != "" {
		return "", apperr.Invalid(fieldPhone, "phone must not have an extension")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// NormalizeWebhookURL checks a webhook endpoint and returns it with the
// scheme and host lower-cased, or "" for a blank input (no webhook).
//
// Only https is accepted: the body carries personal data and the signature
// does not hide it. Loopback hosts (localhost, 127.0.0.0/8, ::1) are allowed,
// over http or https, only when allowLoopback is set (development). Every
// other non-public IP literal (internal/netguard: private, shared, link-local,
// benchmarking, documentation, reserved, … in any spelling) is refused
// outright so a user cannot point Herald's notifier at its own network. A
// name is accepted here: the notifier checks the address it resolves to on
// every connection, and WarnWebhookHost logs one that resolves inside now.
func NormalizeWebhookURL(s, field string, allowLoopback bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxWebhookURL || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", apperr.Invalid(field, "webhook URL must be at most %d characters without control characters", MaxWebhookURL)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return "", apperr.Invalid(field, "webhook URL must be an absolute URL such as https://example.com/hooks/herald")
	}
	if u.User != nil {
		return "", apperr.Invalid(field, "webhook URL must not contain credentials")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "", apperr.Invalid(field, "webhook URL must not contain a fragment")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", apperr.Invalid(field, "webhook URL must name a host")
	}
	if p := u.Port(); p != "" && !validPort(p) {
		return "", apperr.Invalid(field, "webhook URL has an invalid port")
	}
	// The notifier's rule (internal/netguard) for IP literals in any
	// spelling: 127.1, 2130706433, 0x7f.1, [::ffff:10.0.0.1], 100.64.0.1.
	if err := netguard.CheckHost(host, allowLoopback); err != nil {
		return "", apperr.Invalid(field, "webhook URL must not point at a loopback, private, shared, reserved or otherwise non-public address")
	}
	isLoopback := netguard.LoopbackHost(host)
	switch {
	case isLoopback && !allowLoopback:
		return "", apperr.Invalid(field, "webhook URL must not point at this machine")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback:
	case u.Scheme == "http":
		return "", apperr.Invalid(field, "webhook URL must use https")
	default:
		return "", apperr.Invalid(field, "webhook URL must use https")
	}
	if strings.Contains(u.Hostname(), "%") {
		return "", apperr.Invalid(field, "webhook URL must not carry an IPv6 zone")
	}
	u.Host = strings.ToLower(u.Host)
	out := u.String()
	if len(out) > MaxWebhookURL {
		return "", apperr.Invalid(field, "webhook URL must be at most %d characters", MaxWebhookURL)
	}
	return out, nil
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n <= 65535
}

// NormalizeLocalTime accepts a 24-hour wall-clock time "HH:MM" and returns
// it with its minutes since midnight.
func NormalizeLocalTime(s, field string) (string, int, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse("15:04", s)
	if err != nil || t.Format("15:04") != s {
		return "", 0, apperr.Invalid(field, "time must be HH:MM on a 24-hour clock, such as 22:00")
	}
	return s, t.Hour()*60 + t.Minute(), nil
}

// NormalizeTimeZone accepts an IANA time zone name that exists in the
// time zone database embedded in the binary ("Local" is refused: it means
// the server's zone, not the user's).
func NormalizeTimeZone(s, field string) (*time.Location, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "Local" || len(s) > MaxTimeZoneBytes || !utf8.ValidString(s) {
		return nil, apperr.Invalid(field, "time zone must be an IANA name such as Europe/Berlin")
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, apperr.Invalid(field, "time zone %q does not exist; use an IANA name such as Europe/Berlin", s)
	}
	return loc, nil
}

// NormalizeLocale parses a BCP 47 language tag and returns its canonical
// form ("EN-gb" → "en-GB").
func NormalizeLocale(s, field string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxLocaleBytes || !utf8.ValidString(s) {
		return "", apperr.Invalid(field, "locale must be a BCP 47 tag such as en-GB")
	}
	tag, err := language.Parse(s)
	if err != nil || tag == language.Und {
		return "", apperr.Invalid(field, "locale %q is not a BCP 47 tag such as en-GB", s)
	}
	out := tag.String()
	if len(out) > MaxLocaleBytes || out == "und" {
		return "", apperr.Invalid(field, "locale must be a BCP 47 tag such as en-GB")
	}
	return out, nil
}

// QuietHoursValue is validated quiet hours.
type QuietHoursValue struct {
	Start, End       string // HH:MM
	StartMin, EndMin int    // minutes since local midnight
	TimeZone         string
	Location         *time.Location
}

// ValidateQuietHours checks a quiet-hours input; prefix is the path of the
// input object ("input.preferences.quietHours.").
func ValidateQuietHours(in model.QuietHoursInput, prefix string) (QuietHoursValue, error) {
	start, sm, err := NormalizeLocalTime(in.Start, prefix+"start")
	if err != nil {
		return QuietHoursValue{}, err
	}
	end, em, err := NormalizeLocalTime(in.End, prefix+"end")
	if err != nil {
		return QuietHoursValue{}, err
	}
	if sm == em {
		return QuietHoursValue{}, apperr.Invalid(prefix+"end", "quiet hours must end at a different time than they start")
	}
	loc, err := NormalizeTimeZone(in.TimeZone, prefix+"timeZone")
	if err != nil {
		return QuietHoursValue{}, err
	}
	return QuietHoursValue{Start: start, End: end, StartMin: sm, EndMin: em, TimeZone: loc.String(), Location: loc}, nil
}

// CategoryPatch changes one category; nil fields stay as they are.
type CategoryPatch struct {
	Enabled  *bool
	OptedOut *[]string // replaces the list; sorted, without duplicates
}

// PrefsPatch is a validated NotificationPreferencesInput: nil fields stay
// as they are.
type PrefsPatch struct {
	Email, SMS, Webhook, InApp *bool
	Categories                 map[string]CategoryPatch
	QuietHoursSet              bool             // the input named quietHours
	QuietHours                 *QuietHoursValue // nil with QuietHoursSet: remove
	Locale                     *string
}

// ValidatePreferences checks a preferences input; prefix is the path of the
// input object ("input." or "input.preferences.").
func ValidatePreferences(in model.NotificationPreferencesInput, prefix string) (PrefsPatch, error) {
	p := PrefsPatch{
		Email:   in.Email.Value(),
		SMS:     in.Sms.Value(),
		Webhook: in.Webhook.Value(),
		InApp:   in.InApp.Value(),
	}
	if cats := in.Categories.Value(); len(cats) > 0 {
		p.Categories = make(map[string]CategoryPatch, len(cats))
		for i, c := range cats {
			field := prefix + "categories"
			if !c.Category.IsValid() {
				return PrefsPatch{}, apperr.Invalid(field, "unknown category %q", c.Category)
			}
			if _, dup := p.Categories[string(c.Category)]; dup {
				return PrefsPatch{}, apperr.Invalid(field, "category %s is listed twice (entry %d)", c.Category, i)
			}
			cp := CategoryPatch{Enabled: c.Enabled.Value()}
			if c.OptedOut.IsSet() {
				out := []string{}
				for _, ch := range c.OptedOut.Value() {
					if !ch.IsValid() {
						return PrefsPatch{}, apperr.Invalid(field, "unknown channel %q", ch)
					}
					out = append(out, string(ch))
				}
				slices.Sort(out)
				out = slices.Compact(out)
				cp.OptedOut = &out
			}
			p.Categories[string(c.Category)] = cp
		}
	}
	if in.QuietHours.IsSet() {
		p.QuietHoursSet = true
		if q := in.QuietHours.Value(); q != nil {
			v, err := ValidateQuietHours(*q, prefix+"quietHours.")
			if err != nil {
				return PrefsPatch{}, err
			}
			p.QuietHours = &v
		}
	}
	if l := in.Locale.Value(); l != nil {
		loc, err := NormalizeLocale(*l, prefix+"locale")
		if err != nil {
			return PrefsPatch{}, err
		}
		p.Locale = &loc
	} else if in.Locale.IsSet() {
		return PrefsPatch{}, apperr.Invalid(prefix+"locale", "locale cannot be removed; set a BCP 47 tag such as en")
	}
	return p, nil
}
