// Package textsafe decides which characters a display text (a user's name,
// an order line's name) may hold. Such text ends up in email headers and
// bodies, SMS and webhook payloads, where a control character could inject
// content and a bidirectional override could make "gpj.exe" read "exe.jpg".
package textsafe

import (
	"fmt"
	"unicode"
)

// Problem describes the first character of s that display text must not
// hold, as "U+202E (bidirectional formatting)"; "" when there is none.
//
// Refused: control characters (Cc), the line and paragraph separators
// U+2028 and U+2029 (Zl, Zp), bidirectional embeddings, overrides, isolates
// and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), and
// every other format character (Cf) except the zero-width joiner and
// non-joiner (U+200C, U+200D), which Persian, Indic scripts and emoji
// sequences need.
func Problem(s string) string {
	for _, r := range s {
		if what := kind(r); what != "" {
			return fmt.Sprintf("U+%04X (%s)", r, what)
		}
	}
	return ""
}

func kind(r rune) string {
	switch {
	case r == 0x200C || r == 0x200D:
		return ""
	case unicode.Is(unicode.Cc, r):
		return "control character"
	case r == 0x2028:
		return "line separator"
	case r == 0x2029:
		return "paragraph separator"
	case (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C:
		return "bidirectional formatting"
	case unicode.Is(unicode.Cf, r):
		return "invisible formatting character"
	}
	return ""
}
