package gqlwire

import (
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want DocumentStats
	}{
		{"flat", `{ a b c }`, DocumentStats{Tokens: 5, Depth: 1}},
		{"nested", `query Q { a { b { c } } }`, DocumentStats{Tokens: 11, Depth: 3}},
		{"commas and comments are no tokens", "{ a, b # { { {\n c }", DocumentStats{Tokens: 5, Depth: 1}},
		{"braces in strings", `{ a(s: "{{{\"{") b }`, DocumentStats{Tokens: 9, Depth: 1}},
		{"braces in block strings", "{ a(s: \"\"\"{{\n{ \\\"\"\" {{\"\"\") }", DocumentStats{Tokens: 8, Depth: 1}},
		{"input object values are no selection sets", `{ a(o: {x: {y: [{z: 1}]}}) { b } }`, DocumentStats{Tokens: 25, Depth: 2}},
		{"variable defaults", `query($o: In = {x: {y: 1}}) { a(o: $o) }`, DocumentStats{Tokens: 26, Depth: 1}},
		{"inline fragment adds no level", `{ a { ... on T { b { c } } } }`, DocumentStats{Tokens: 14, Depth: 3}},
		{"inline fragment without type", `{ a { ... @include(if: true) { b } ... { c } } }`, DocumentStats{Tokens: 20, Depth: 2}},
		{"spread is not followed", `{ a { ...F } } fragment F on T { b { c { d } } }`, DocumentStats{Tokens: 20, Depth: 3}},
		{"each definition on its own", `query A { a { b } } query B { c { d { e } } }`, DocumentStats{Tokens: 19, Depth: 3}},
		{"numbers", `{ a(x: 12, y: -3.5e+7, z: 1e9) }`, DocumentStats{Tokens: 15, Depth: 1}},
		{"a NUL byte ends the document", "{ a }\x00{{{{", DocumentStats{Tokens: 3, Depth: 1}},
		{"unterminated string", `{ a(s: "abc`, DocumentStats{Tokens: 6, Depth: 1}},
		{"unbalanced", `}}} { a`, DocumentStats{Tokens: 5, Depth: 1}},
		{"empty", ``, DocumentStats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Scan(tt.doc); got != tt.want {
				t.Errorf("Scan(%q) = %+v, want %+v", tt.doc, got, tt.want)
			}
		})
	}
}

func TestScanDeepDocumentAllocatesLittle(t *testing.T) {
	const levels = 1 << 18
	doc := strings.Repeat("{a", levels) + strings.Repeat("}", levels)
	var st DocumentStats
	allocs := testing.AllocsPerRun(3, func() { st = Scan(doc) })
	if st.Depth != levels || st.Tokens != 3*levels {
		t.Errorf("Scan = %+v, want depth %d and %d tokens", st, levels, 3*levels)
	}
	// The inline-fragment bit stack grows by appends: a handful for 2^18 levels.
	if allocs > 16 {
		t.Errorf("Scan of %d levels allocated %v times", levels, allocs)
	}
	if allocs := testing.AllocsPerRun(10, func() { st = Scan(`{ a { b { c } } }`) }); allocs != 0 {
		t.Errorf("Scan of a small document allocated %v times", allocs)
	}
}
