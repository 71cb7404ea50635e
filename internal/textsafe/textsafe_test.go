package textsafe_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/textsafe"
)

func TestProblem(t *testing.T) {
	for _, s := range []string{"Ada Lovelace", "Zoë", "محمد", "می\u200cخواهم", "👩\u200d💻 Dev", "山田 太郎", "O'Brien-Smith"} {
		if p := textsafe.Problem(s); p != "" {
			t.Errorf("Problem(%q) = %q, want none", s, p)
		}
	}
	for s, want := range map[string]string{
		"eve\u202Egpj.exe": "U+202E (bidirectional formatting)",
		"a\u202Ab":         "U+202A (bidirectional formatting)",
		"a\u2066b":         "U+2066 (bidirectional formatting)",
		"a\u2069b":         "U+2069 (bidirectional formatting)",
		"a\u200Fb":         "U+200F (bidirectional formatting)",
		"line\u2028break":  "U+2028 (line separator)",
		"para\u2029break":  "U+2029 (paragraph separator)",
		"tab\there":        "U+0009 (control character)",
		"nl\nhere":         "U+000A (control character)",
		"c1\u0085":         "U+0085 (control character)",
		"bom\uFEFF":        "U+FEFF (invisible formatting character)",
		"soft\u00ADhyphen": "U+00AD (invisible formatting character)",
	} {
		if got := textsafe.Problem(s); got != want {
			t.Errorf("Problem(%q) = %q, want %q", s, got, want)
		}
	}
}
