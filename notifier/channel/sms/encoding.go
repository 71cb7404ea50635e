package sms

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Encoding is how a text travels over the air.
type Encoding string

const (
	// GSM7 is the GSM 03.38 default alphabet, 7 bits per character; the
	// extension-table characters (€ [ ] { } \ ^ ~ | form feed) take two.
	GSM7 Encoding = "GSM-7"
	// UCS2 is used as soon as one character is outside GSM-7: 16 bits per
	// UTF-16 code unit (characters outside the BMP, e.g. most emoji, take two).
	UCS2 Encoding = "UCS-2"
)

// Per-segment capacities. A multi-part message loses room in every part to
// the concatenation header (UDH, 6 bytes).
const (
	gsmSingle  = 160 // septets
	gsmMulti   = 153
	ucs2Single = 70 // UTF-16 code units
	ucs2Multi  = 67
)

// gsmBasic is the GSM 03.38 default alphabet (ESC at 0x1B excluded).
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension characters are sent as ESC + one septet.
const gsmExtension = "\f^{}\\[~]|€"

var gsmWidth = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// Info describes how a text is sent.
type Info struct {
	Encoding Encoding
	Units    int // septets (GSM-7) or UTF-16 code units (UCS-2)
	Segments int // parts the message is split into (0 for an empty text)
}

// Analyze returns the encoding, size and segment count of text.
func Analyze(text string) Info {
	if text == "" {
		return Info{Encoding: GSM7}
	}
	enc := encodingOf(text)
	widths := unitWidths(text, enc)
	units := 0
	for _, w := range widths {
		units += w
	}
	single, multi := gsmSingle, gsmMulti
	if enc == UCS2 {
		single, multi = ucs2Single, ucs2Multi
	}
	if units <= single {
		return Info{Encoding: enc, Units: units, Segments: 1}
	}
	// Pack greedily: a two-unit character (GSM escape pair, UTF-16
	// surrogate pair) is never split across parts, so a part may end one
	// unit short and the count can exceed ceil(units/multi).
	segments, room := 1, multi
	for _, w := range widths {
		if w > room {
			segments++
			room = multi
		}
		room -= w
	}
	return Info{Encoding: enc, Units: units, Segments: segments}
}

func encodingOf(text string) Encoding {
	for _, r := range text {
		if gsmWidth[r] == 0 {
			return UCS2
		}
	}
	return GSM7
}

func unitWidths(text string, enc Encoding) []int {
	widths := make([]int, 0, utf8.RuneCountInString(text))
	for _, r := range text {
		if enc == GSM7 {
			widths = append(widths, gsmWidth[r])
		} else {
			widths = append(widths, utf16.RuneLen(r))
		}
	}
	return widths
}

// Truncate returns text unchanged when it fits in maxSegments, else its
// longest prefix that fits together with an ellipsis ("..." for GSM-7
// texts, "…" for UCS-2 ones, so cutting never changes the encoding and the
// price class). Trailing spaces before the ellipsis are dropped.
func Truncate(text string, maxSegments int) string {
	if maxSegments < 1 || Analyze(text).Segments <= maxSegments {
		return text
	}
	ellipsis := "..."
	if encodingOf(text) == UCS2 {
		ellipsis = "…"
	}
	runes := []rune(text)
	// The segment count grows with the prefix length: binary search the
	// longest prefix that still fits.
	lo, hi := 0, len(runes)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if Analyze(cut(runes[:mid], ellipsis)).Segments <= maxSegments {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return cut(runes[:lo], ellipsis)
}

func cut(prefix []rune, ellipsis string) string {
	return strings.TrimRight(string(prefix), " \n\r\t") + ellipsis
}
