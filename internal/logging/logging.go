// Package logging builds the JSON slog logger every binary uses and masks
// personal data before it reaches a log line.
package logging

import (
	"io"
	"log/slog"
	"strings"

	"github.com/heraldhq/herald/internal/config"
)

// LoadLevel declares HERALD_LOG_LEVEL, the level every binary passes to New.
func LoadLevel(v *config.Vars) string {
	return v.Enum("HERALD_LOG_LEVEL", "info", "log level", "debug", "info", "warn", "error")
}

// New returns a JSON logger at the given level ("debug", "info", "warn", "error").
func New(w io.Writer, level, service string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", service)
}

// OrDiscard is l, or a logger that discards everything when l is nil (the
// zero value of a Deps.Logger).
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// MaskEmail keeps the first character of the local part and the domain:
// enough to tell recipients apart in a log, not enough to contact them.
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return "***"
	}
	return email[:1] + "***" + email[at:]
}

// MaskPhone keeps the last two digits.
func MaskPhone(phone string) string {
	if len(phone) <= 2 {
		return "***"
	}
	return "***" + phone[len(phone)-2:]
}
