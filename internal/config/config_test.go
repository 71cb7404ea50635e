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

// A value that does not parse is reported with the variable's name and the
// default is used meanwhile; a good value is read.
func TestTypedValues(t *testing.T) {
	env := map[string]string{"I": "x", "B": "maybe", "D": "-1s", "I2": "7", "B2": "false", "D2": "2m"}
	v := New(func(k string) string { return env[k] })
	i, b, d := v.Int("I", 3, ""), v.Bool("B", true, ""), v.Duration("D", time.Second, "")
	i2, b2, d2 := v.Int("I2", 3, ""), v.Bool("B2", true, ""), v.Duration("D2", time.Second, "")
	if i != 3 || !b || d != time.Second || i2 != 7 || b2 || d2 != 2*time.Minute {
		t.Errorf("values = %d %v %v %d %v %v", i, b, d, i2, b2, d2)
	}
	for _, want := range []string{`I: "x" is not an integer`, `B: "maybe" is not a boolean`, `D: "-1s" is not a duration such as 5s`} {
		if err := v.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v, want it to contain %q", err, want)
		}
	}
}
