package users

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

// Limits on registration input. The database enforces the same limits, so a
// value that passes here is never refused by a column constraint.
const (
	MaxNameRunes   = 200
	MaxEmailBytes  = 254 // RFC 5321's limit on a forward path
	maxPhoneLength = 64  // raw input, before normalisation; E.164 itself is ≤ 16
)

// Field names reported in extensions.field, as paths into the mutation's arguments.
const (
	fieldName  = "input.name"
	fieldEmail = "input.email"
	fieldPhone = "input.phone"
)

// Registration is a validated, normalised registerUser input.
type Registration struct {
	Name  string  // trimmed
	Email string  // bare address, lower-cased
	Phone *string // E.164, nil when none was given
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
	if in.Phone != nil {
		phone, err := NormalizePhone(*in.Phone)
		if err != nil {
			return Registration{}, err
		}
		if phone != "" {
			reg.Phone = &phone
		}
	}
	return reg, nil
}

// NormalizeName trims a display name and refuses empty, over-long and
// control-character names: names end up in email headers and SMS bodies,
// where a newline would let a user inject content.
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
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", apperr.Invalid(fieldName, "name must not contain control characters")
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
	return s, nil
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
