package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseUsageReadsBackUsage(t *testing.T) {
	v := New(nil)
	v.String("HERALD_A", "", "plain, with [brackets] in the help")
	v.Duration("HERALD_B", 5*time.Second, "a duration")
	v.Enum("HERALD_C", "x", "an enum", "x", "y")
	v.List("HERALD_D", "a,b", "a list")
	var b strings.Builder
	v.Usage(&b, "prog", "summary\n\n  indented text that is no variable")
	got := ParseUsage(b.String())
	want := map[string]string{"HERALD_A": "", "HERALD_B": "5s", "HERALD_C": "x", "HERALD_D": "a,b"}
	if !maps.Equal(got, want) {
		t.Fatalf("ParseUsage = %v, want %v\nfrom:\n%s", got, want, b.String())
	}
}

func TestWantsCheck(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rest []string
		ok   bool
	}{
		{nil, []string{}, false},
		{[]string{"migrate"}, []string{"migrate"}, false},
		{[]string{CheckFlag}, []string{}, true},
		{[]string{"migrate", CheckFlag}, []string{"migrate"}, true},
		{[]string{"dlq", CheckFlag, "replay"}, []string{"dlq", "replay"}, true},
	} {
		rest, ok := WantsCheck(tc.args)
		if ok != tc.ok || !slices.Equal(rest, tc.rest) {
			t.Errorf("WantsCheck(%q) = %q, %v; want %q, %v", tc.args, rest, ok, tc.rest, tc.ok)
		}
	}
}
