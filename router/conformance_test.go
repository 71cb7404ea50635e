package router

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The federation conformance suite: one small purpose-built graph per area
// in which an external gateway compatibility audit found the router wrong,
// run through the real router (composition from the subgraphs' _service
// SDL, planning, execution).
//
// The Go table below holds the graphs (SDL and fixed data) and checks on
// what the subgraphs were asked; testdata/conformance/<case>.json holds the
// operations and, for each, the right answer written from the Apollo
// Federation v2 and GraphQL specifications (never recorded from the router).
// An operation the router answers wrongly today carries a "gap": the exact
// body it answers now and the cause. A gap fails the test as soon as the
// answer changes, saying whether it is now right (remove the gap) or wrong
// in another way (re-pin it), so that re-running the suite after an engine
// or composer upgrade lists exactly which gaps moved. A graph the composer
// cannot compose carries a "composeGap" with the composer's message.
//
// Run: go test -count=1 -run Conformance ./router/ (-v prints one line per
// operation: PASS, GAP, GAP FIXED, GAP CHANGED, FAIL).

// confCase is one graph of the suite.
type confCase struct {
	name      string // testdata/conformance/<name>.json
	subgraphs []fedSpec
	// checks are assertions on the subgraph requests of the named
	// operation, part of what makes its answer right.
	checks map[string]confCheck
}

// confCheck returns a problem with what the subgraphs were asked, or "".
type confCheck func(sgs map[string]*fedSubgraph) string

// confFile is testdata/conformance/<case>.json.
type confFile struct {
	Area string `json:"area"`
	// ComposeGap: the composer refuses this (valid) graph today.
	ComposeGap *confComposeGap `json:"composeGap,omitempty"`
	Ops        []confOp        `json:"ops"`
}

type confComposeGap struct {
	Error string `json:"error"` // the composition error, exactly
	Cause string `json:"cause"`
}

type confOp struct {
	Name      string         `json:"name"`
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
	Want      confWant       `json:"want"`
	Gap       *confGap       `json:"gap,omitempty"`
}

// confWant is the right answer: data equal as JSON; errors absent when
// Errors is empty, otherwise present, each listed one matched (by path and
// code where given) by a distinct error of the response.
type confWant struct {
	Data   json.RawMessage `json:"data"`
	Errors []confErr       `json:"errors,omitempty"`
}

type confErr struct {
	Path []any  `json:"path,omitempty"`
	Code string `json:"code,omitempty"`
}

// confGap pins today's wrong answer.
type confGap struct {
	Status int             `json:"status,omitempty"` // HTTP status when not 200
	Got    json.RawMessage `json:"got"`              // the body, exactly (a JSON string when the body is not JSON)
	Cause  string          `json:"cause"`
}

func loadConfFile(t *testing.T, name string) confFile {
	t.Helper()
	path := filepath.Join("testdata", "conformance", name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f confFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Ops) == 0 {
		t.Fatalf("%s has no operations", path)
	}
	return f
}

// confResponse is a client response as the suite reads it.
type confResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// problems compares a response with the right answer; nil means right.
func (w confWant) problems(status int, body string) []string {
	if status != 200 {
		return []string{fmt.Sprintf("HTTP status %d", status)}
	}
	var r confResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return []string{"body is not a JSON response: " + err.Error()}
	}
	var out []string
	var gotData, wantData any
	_ = json.Unmarshal(r.Data, &gotData)
	if err := json.Unmarshal(w.Data, &wantData); err != nil {
		return []string{"want.data: " + err.Error()}
	}
	if !reflect.DeepEqual(gotData, wantData) {
		out = append(out, "data differs")
	}
	if len(w.Errors) == 0 && len(r.Errors) > 0 {
		out = append(out, fmt.Sprintf("%d error(s), want none", len(r.Errors)))
	}
	if len(w.Errors) > 0 && len(r.Errors) == 0 {
		out = append(out, "no errors, want some")
	}
	used := make([]bool, len(r.Errors))
next:
	for _, we := range w.Errors {
		for i, ge := range r.Errors {
			if used[i] {
				continue
			}
			if we.Path != nil && !reflect.DeepEqual(normalisePath(ge.Path), normalisePath(we.Path)) {
				continue
			}
			if we.Code != "" && fmt.Sprint(ge.Extensions["code"]) != we.Code {
				continue
			}
			used[i] = true
			continue next
		}
		if len(r.Errors) > 0 {
			out = append(out, fmt.Sprintf("no error with path %v code %q", we.Path, we.Code))
		}
	}
	return out
}

// normalisePath makes list indices from JSON (float64) and Go ints compare.
func normalisePath(p []any) []any {
	out := make([]any, len(p))
	for i, v := range p {
		if f, ok := v.(float64); ok {
			out[i] = int(f)
			continue
		}
		out[i] = v
	}
	return out
}

// sameBody reports whether body is exactly the pinned one (whitespace of
// the pin aside).
func (g confGap) sameBody(status int, body string) bool {
	wantStatus := g.Status
	if wantStatus == 0 {
		wantStatus = 200
	}
	if status != wantStatus {
		return false
	}
	var pinned bytes.Buffer
	if err := json.Compact(&pinned, g.Got); err != nil {
		return false
	}
	if json.Valid([]byte(body)) {
		// The pin went through encoding/json, which escapes <, > and &.
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, []byte(body))
		return pinned.String() == body || pinned.String() == escaped.String()
	}
	var s string
	return json.Unmarshal(g.Got, &s) == nil && s == body
}

// pinFor renders body as it would be pinned in a gap.
func pinFor(body string) string {
	if json.Valid([]byte(body)) {
		return body
	}
	b, _ := json.Marshal(body)
	return string(b)
}

// pinGaps rewrites the pinned wrong answers (gap.got, composeGap.error) of
// testdata/conformance with what the router answers now, for operations it
// answers wrongly; right answers (want) are never written, and a gap
// without a cause fails until one is written by hand.
var pinGaps = flag.Bool("conformance.pin", false, "re-pin the known gaps of testdata/conformance to today's wrong answers")

// TestConformance runs every case of the suite.
func TestConformance(t *testing.T) {
	var summary []string
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			summary = append(summary, runConfCase(t, c)...)
		})
	}
	t.Logf("conformance summary:\n%s", strings.Join(summary, "\n"))
}

// runConfCase runs one case and returns a summary line per operation.
func runConfCase(t *testing.T, c confCase) []string {
	f := loadConfFile(t, c.name)
	for name := range c.checks {
		if !slices.ContainsFunc(f.Ops, func(o confOp) bool { return o.Name == name }) {
			t.Fatalf("check for unknown operation %q", name)
		}
	}
	sgs, list := startFedSubgraphs(t, c.subgraphs)
	for i := range list { // composed from the SDL given, not fetched
		list[i].SDL = c.subgraphs[i].sdl
	}

	// Composition first: the composer's verdict on the graph.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	_, err := Compose(ctx, list)
	cancel()
	if *pinGaps {
		defer func() { savePins(t, c.name, f) }()
		switch {
		case err != nil && f.ComposeGap == nil:
			f.ComposeGap = &confComposeGap{}
			fallthrough
		case err != nil:
			f.ComposeGap.Error = err.Error()
		default:
			f.ComposeGap = nil
		}
	}
	if cg := f.ComposeGap; cg != nil {
		if cg.Cause == "" {
			t.Errorf("composeGap without a cause")
		}
		switch {
		case err == nil:
			t.Errorf("GAP FIXED [%s] the composer now composes this graph (it refused: %s): remove composeGap and check the operations' answers", f.Area, cg.Error)
		case err.Error() != cg.Error:
			t.Errorf("GAP CHANGED [%s] the composer still refuses the graph, differently:\n got: %s\nwas: %s", f.Area, err, cg.Error)
			return []string{fmt.Sprintf("GAP CHANGED  %-32s composition", c.name)}
		default:
			t.Logf("GAP [%s] composition refused: %s\ncause: %s", f.Area, err, cg.Cause)
			return []string{fmt.Sprintf("GAP          %-32s composition (%d operations not run)", c.name, len(f.Ops))}
		}
	} else if err != nil {
		t.Fatalf("FAIL [%s] composition: %v", f.Area, err)
	}

	var summary []string
	if f.ComposeGap != nil { // composes now (GAP FIXED above)
		summary = append(summary, fmt.Sprintf("%-12s %-32s composition", "GAP FIXED", c.name))
	}
	tr := startRouter(t, testConfig(list...))
	tr.waitReady(t)
	for i := range f.Ops {
		op := &f.Ops[i]
		r := askFed(t, tr, sgs, op.Query, op.Variables)
		probs := op.Want.problems(r.status, r.body)
		if check := c.checks[op.Name]; check != nil {
			if p := check(sgs); p != "" {
				probs = append(probs, p)
			}
		}
		right := len(probs) == 0
		if *pinGaps {
			switch {
			case right:
				op.Gap = nil
			default:
				if op.Gap == nil {
					op.Gap = &confGap{}
				}
				op.Gap.Status = 0
				if r.status != 200 {
					op.Gap.Status = r.status
				}
				op.Gap.Got = json.RawMessage(pinFor(r.body))
			}
		}
		if op.Gap != nil && op.Gap.Cause == "" {
			t.Errorf("%s: gap without a cause", op.Name)
		}
		wantJSON, _ := json.Marshal(op.Want)
		var verdict string
		switch {
		case op.Gap == nil && right:
			verdict = "PASS"
		case op.Gap == nil:
			verdict = "FAIL"
			t.Errorf("FAIL [%s] %s: %s\nquery: %s\n  got (HTTP %d): %s\n want: %s", f.Area, op.Name, strings.Join(probs, "; "), op.Query, r.status, r.body, wantJSON)
		case right:
			verdict = "GAP FIXED"
			t.Errorf("GAP FIXED [%s] %s: the answer is now right; remove the gap (cause was: %s)\n got: %s", f.Area, op.Name, op.Gap.Cause, r.body)
		case !op.Gap.sameBody(r.status, r.body):
			verdict = "GAP CHANGED"
			t.Errorf("GAP CHANGED [%s] %s: still wrong (%s) but not as pinned; re-pin it and check the cause\nquery: %s\n got (HTTP %d): %s\n was: %s\nwant: %s",
				f.Area, op.Name, strings.Join(probs, "; "), op.Query, r.status, pinFor(r.body), op.Gap.Got, wantJSON)
		default:
			verdict = "GAP"
			t.Logf("GAP [%s] %s: %s", f.Area, op.Name, strings.Join(probs, "; "))
		}
		if testing.Verbose() {
			t.Logf("%s %s: HTTP %d %s", verdict, op.Name, r.status, r.body)
			for _, spec := range c.subgraphs {
				if reqs := sgs[spec.name].requests(); len(reqs) > 0 {
					t.Logf("  %s was asked: %s", spec.name, describeRequests(reqs))
				}
			}
		}
		summary = append(summary, fmt.Sprintf("%-12s %-32s %s", verdict, c.name, op.Name))
	}
	return summary
}

// --- checks on subgraph requests ---

// askedNothing: subgraph name was not asked anything.
func askedNothing(name string) confCheck {
	return func(sgs map[string]*fedSubgraph) string {
		if reqs := sgs[name].requests(); len(reqs) != 0 {
			return fmt.Sprintf("subgraph %s was asked %d operation(s), want none: %s", name, len(reqs), describeRequests(reqs))
		}
		return ""
	}
}

// neverMentions: no request to subgraph name contains sub (a type or field
// the subgraph does not define, which it would refuse).
func neverMentions(name, sub string) confCheck {
	return func(sgs map[string]*fedSubgraph) string {
		for _, r := range sgs[name].requests() {
			if strings.Contains(r.Query, sub) {
				return fmt.Sprintf("subgraph %s was sent %q, which mentions %s it does not define", name, r.Query, sub)
			}
		}
		return ""
	}
}

func describeRequests(reqs []subgraphRequest) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "[%s variables %s] ", r.Query, r.Variables)
	}
	return b.String()
}

func bothChecks(a, b confCheck) confCheck {
	return func(sgs map[string]*fedSubgraph) string {
		if p := a(sgs); p != "" {
			return p
		}
		return b(sgs)
	}
}

// TestConformanceDirectives: the directives already covered by the
// directive cases (federation_cases_test.go, golden files under
// testdata/federation) are part of the suite by reference, one case each.
func TestConformanceDirectives(t *testing.T) {
	byName := map[string]fedCase{}
	for _, c := range directiveCases() {
		byName[c.name] = c
	}
	for _, name := range []string{
		"key_multiple",      // @key, several sets
		"key_composite",     // @key, several fields
		"key_nested",        // @key with a nested selection
		"requires",          // @requires + @external
		"provides_external", // @provides + @external
		"shareable",         // @shareable
		"override",          // @override
		"inaccessible",      // @inaccessible (validation, introspection)
		"interface_object",  // @interfaceObject
	} {
		c, ok := byName[name]
		if !ok {
			t.Fatalf("directive case %s is gone", name)
		}
		t.Run(name, func(t *testing.T) { runFedCase(t, c) })
	}
}

// savePins writes f back to testdata/conformance/<name>.json.
func savePins(t *testing.T, name string, f confFile) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "conformance", name+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
