// Package config reads service configuration from environment variables.
//
// Every variable is declared once with its default and a help line, so that
// --help can list exactly what a binary reads, and so that all problems in the
// environment are reported together instead of one per restart.
package config

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Vars collects declared variables, their parsed values and any problems.
type Vars struct {
	getenv func(string) string
	docs   []doc
	errs   []error
}

type doc struct{ name, def, help string }

// New returns a reader over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Vars {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return &Vars{getenv: getenv}
}

func (v *Vars) raw(name, def, help string) (string, bool) {
	v.docs = append(v.docs, doc{name, def, help})
	s := strings.TrimSpace(v.getenv(name))
	if s == "" {
		return def, false
	}
	return s, true
}

// String declares a string variable.
func (v *Vars) String(name, def, help string) string {
	s, _ := v.raw(name, def, help)
	return s
}

// Required declares a string variable that must be set (or have a default).
func (v *Vars) Required(name, def, help string) string {
	s, _ := v.raw(name, def, help)
	if s == "" {
		v.errs = append(v.errs, fmt.Errorf("%s: must be set", name))
	}
	return s
}

// List declares a comma-separated list.
func (v *Vars) List(name, def, help string) []string {
	s, _ := v.raw(name, def, help)
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Int declares an integer variable.
func (v *Vars) Int(name string, def int, help string) int {
	return parsed(v, name, def, strconv.Itoa(def), help, "an integer", strconv.Atoi)
}

// Bool declares a boolean variable (true/false/1/0).
func (v *Vars) Bool(name string, def bool, help string) bool {
	return parsed(v, name, def, strconv.FormatBool(def), help, "a boolean", strconv.ParseBool)
}

// Duration declares a duration variable such as "5s".
func (v *Vars) Duration(name string, def time.Duration, help string) time.Duration {
	return parsed(v, name, def, def.String(), help, "a duration such as 5s", func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err == nil && d < 0 {
			err = errors.New("negative")
		}
		return d, err
	})
}

// parsed declares a variable read with parse, whose default shows in the
// usage as defText; a value parse refuses is reported as not being what.
func parsed[T any](v *Vars, name string, def T, defText, help, what string, parse func(string) (T, error)) T {
	s, set := v.raw(name, defText, help)
	if !set {
		return def
	}
	x, err := parse(s)
	if err != nil {
		v.errs = append(v.errs, fmt.Errorf("%s: %q is not %s", name, s, what))
		return def
	}
	return x
}

// Enum declares a variable restricted to the allowed values.
func (v *Vars) Enum(name, def, help string, allowed ...string) string {
	s, _ := v.raw(name, def, help+" (one of "+strings.Join(allowed, ", ")+")")
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	v.errs = append(v.errs, fmt.Errorf("%s: %q is not one of %s", name, s, strings.Join(allowed, ", ")))
	return def
}

// Defaults returns a function giving what load reads from an empty
// environment: a configuration's defaults exactly as its declarations (and
// so its --help) give them, computed once. Code that builds a
// configuration by hand and leaves a setting at its zero value takes the
// default from there instead of writing it a second time.
func Defaults[T any](load func(*Vars) T) func() T {
	return sync.OnceValue(func() T { return load(New(nil)) })
}

// Check records a problem found while validating values together.
func (v *Vars) Check(ok bool, format string, args ...any) {
	if !ok {
		v.errs = append(v.errs, fmt.Errorf(format, args...))
	}
}

// Err reports every problem found so far, joined.
func (v *Vars) Err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(v.errs...))
}

// Usage writes the declared variables with their defaults.
func (v *Vars) Usage(w io.Writer, program, summary string) {
	fmt.Fprintf(w, "%s: %s\n\nEnvironment variables:\n", program, summary)
	seen := map[string]bool{}
	for _, d := range v.docs {
		if seen[d.name] {
			continue
		}
		seen[d.name] = true
		def := d.def
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "  %-34s %s [default: %s]\n", d.name, d.help, def)
	}
}

// usageLine is one variable as Usage writes it.
var usageLine = regexp.MustCompile(`^  ([A-Z][A-Z0-9_]*) +.*\[default: (.*)\]$`)

// ParseUsage reads back the variables a Usage text lists, with their
// defaults ("" for "(empty)"): tests that check deployment files against a
// binary take what it reads from its --help.
func ParseUsage(text string) map[string]string {
	vars := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		if m := usageLine.FindStringSubmatch(line); m != nil {
			def := m[2]
			if def == "(empty)" {
				def = ""
			}
			vars[m[1]] = def
		}
	}
	return vars
}

// WantsHelp reports whether the arguments ask for usage.
func WantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" || a == "help" {
			return true
		}
	}
	return false
}

// CheckFlag asks a binary to validate its arguments and environment and
// exit (0 valid, 2 not) without opening anything: a release pipeline, or a
// test of the deployment files, learns of a bad variable before a rollout.
const CheckFlag = "--check-config"

// WantsCheck reports whether args hold CheckFlag and returns them without it.
func WantsCheck(args []string) ([]string, bool) {
	rest := make([]string, 0, len(args))
	found := false
	for _, a := range args {
		if a == CheckFlag {
			found = true
			continue
		}
		rest = append(rest, a)
	}
	return rest, found
}
