package router

import (
	"os"
	"path/filepath"
	"testing"
)

// readGoldenAnswer reads bench/router's golden router answer for a query.
func readGoldenAnswer(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "bench", "router", "testdata", name+".router.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
