package sms_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald/notifier/channel/sms"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary tests;
// `go test -run '^$' -fuzz FuzzX -fuzztime 30s ./notifier/channel/sms/`
// explores further.

// FuzzAnalyze checks the segment arithmetic on arbitrary text: it never
// panics, an empty text is zero segments, and the counts agree with the
// per-segment capacities.
func FuzzAnalyze(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		info := sms.Analyze(text)
		if text == "" {
			if info.Segments != 0 || info.Units != 0 {
				t.Fatalf("Analyze(\"\") = %+v, want zero segments", info)
			}
			return
		}
		single, multi := 160, 153
		switch info.Encoding {
		case sms.GSM7:
		case sms.UCS2:
			single, multi = 70, 67
		default:
			t.Fatalf("Analyze(%q) encoding %q", text, info.Encoding)
		}
		runes := utf8.RuneCountInString(text)
		if info.Units < runes || info.Units > 2*runes {
			t.Fatalf("Analyze(%q) = %+v: units outside [%d, %d]", text, info, runes, 2*runes)
		}
		if info.Segments < 1 {
			t.Fatalf("Analyze(%q) = %+v: a non-empty text needs a segment", text, info)
		}
		if info.Units <= single {
			if info.Segments != 1 {
				t.Fatalf("Analyze(%q) = %+v: fits in one segment", text, info)
			}
			return
		}
		// Greedy packing may waste one unit per part, never more.
		lo, hi := (info.Units+multi-1)/multi, (info.Units+multi-2)/(multi-1)
		if info.Segments < lo || info.Segments > hi {
			t.Fatalf("Analyze(%q) = %+v: segments outside [%d, %d]", text, info, lo, hi)
		}
	})
}

// FuzzTruncate checks that Truncate never panics, leaves text that fits
// alone, and otherwise returns valid UTF-8 of at most max segments, in the
// same encoding, made of a prefix of the text and an ellipsis.
func FuzzTruncate(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string, maxSegments int8) {
		n := int(maxSegments)
		out := sms.Truncate(text, n)
		in := sms.Analyze(text)
		if n < 1 || in.Segments <= n {
			if out != text {
				t.Fatalf("Truncate(%q, %d) = %q, want the text unchanged", text, n, out)
			}
			return
		}
		got := sms.Analyze(out)
		if got.Segments > n {
			t.Fatalf("Truncate(%q, %d) = %q: %d segments", text, n, out, got.Segments)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Truncate(%q, %d) = %q: not valid UTF-8", text, n, out)
		}
		if got.Encoding != in.Encoding {
			t.Fatalf("Truncate(%q, %d) = %q: encoding %s, was %s", text, n, out, got.Encoding, in.Encoding)
		}
		ellipsis := "..."
		if in.Encoding == sms.UCS2 {
			ellipsis = "…"
		}
		prefix, ok := strings.CutSuffix(out, ellipsis)
		if !ok {
			t.Fatalf("Truncate(%q, %d) = %q: no ellipsis %q", text, n, out, ellipsis)
		}
		if utf8.ValidString(text) && !strings.HasPrefix(text, prefix) {
			t.Fatalf("Truncate(%q, %d) = %q: not a prefix of the text", text, n, out)
		}
	})
}

// FuzzE164 checks that E164 never panics, that what it accepts is
// canonical ("+" and digits only) and that it is idempotent.
func FuzzE164(f *testing.F) {
	f.Fuzz(func(t *testing.T, number string) {
		got, err := sms.E164(number)
		if err != nil {
			if got != "" {
				t.Fatalf("E164(%q) = %q with error %v", number, got, err)
			}
			return
		}
		if !strings.HasPrefix(got, "+") || len(got) < 2 || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("E164(%q) = %q, not +<digits>", number, got)
		}
		again, err := sms.E164(got)
		if err != nil || again != got {
			t.Fatalf("E164(%q) = %q, but E164(%q) = %q, %v", number, got, got, again, err)
		}
	})
}
