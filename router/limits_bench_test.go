package router

import (
	"strings"
	"testing"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
)

// BenchmarkHostileDocument: what executor.parse does with a query text it
// has not seen (the operation cache missed): the scan before parsing
// (Limits.scan), then parsing and measuring (Limits.measure, cost plan
// included). A megabyte of "{a{a{a…" is refused by the scan; parsing it
// anyway (what the router did before the scan) is measured beside it, and
// a typical query's whole path is the floor.
//
//	go test -run '^$' -bench BenchmarkHostileDocument -benchmem ./router/
func BenchmarkHostileDocument(b *testing.B) {
	schema := committedClientSchema(b)
	const levels = 333_333
	nested := strings.Repeat("{a", levels) + strings.Repeat("}", levels)
	const typical = `query { user(id: "u1") { email preferences { email } orders { id totalMinor currency } } }`

	parseAndMeasure := func(b *testing.B, l Limits, q string) opStats {
		if err := l.scan(q); err != nil {
			b.Fatal(err)
		}
		doc, report := astparser.ParseGraphqlDocumentString(q)
		if report.HasErrors() {
			b.Fatal(report.Error())
		}
		_, st, _ := l.measure(&doc, schema, "")
		return st
	}
	b.Run("floor: typical query scanned, parsed and measured", func(b *testing.B) {
		l := (Limits{}).withDefaults()
		b.ReportAllocs()
		for b.Loop() {
			if st := parseAndMeasure(b, l, typical); st.cost.estimate(nil) != 84 {
				b.Fatal("not costed")
			}
		}
	})
	b.Run("largest text the scan passes (5000 tokens) parsed, measured and refused", func(b *testing.B) {
		l := (Limits{}).withDefaults()
		q := "{" + strings.Repeat(" a", l.MaxTokens-2) + " }"
		b.ReportAllocs()
		for b.Loop() {
			if st := parseAndMeasure(b, l, q); l.check(st, false) == nil {
				b.Fatal("not refused")
			}
		}
	})
	b.Run("1 MB nested refused by the query size limit", func(b *testing.B) {
		l := (Limits{}).withDefaults()
		b.ReportAllocs()
		for b.Loop() {
			if err := l.scan(nested); err == nil {
				b.Fatal("not refused")
			}
		}
	})
	b.Run("1 MB nested refused by the nesting scan", func(b *testing.B) {
		l := (Limits{MaxQueryBytes: 1 << 20}).withDefaults()
		b.ReportAllocs()
		for b.Loop() {
			if err := l.scan(nested); err == nil {
				b.Fatal("not refused")
			}
		}
	})
	b.Run("1 MB nested parsed and measured without the scan (before)", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			doc, report := astparser.ParseGraphqlDocumentString(nested)
			if report.HasErrors() {
				b.Fatal(report.Error())
			}
			if _, st, _ := measureOperation(&doc, ""); st.depth != levels {
				b.Fatalf("depth %d", st.depth)
			}
		}
	})
}
