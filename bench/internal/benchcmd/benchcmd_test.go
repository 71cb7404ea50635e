package benchcmd

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		exit     bool
		duration string
	}{
		{args: nil, duration: "1s"},
		{args: []string{"-d", "2s"}, duration: "2s"},
		{args: []string{"-h"}, code: 0, exit: true},
		{args: []string{"-help"}, code: 0, exit: true},
		{args: []string{"-nope"}, code: 2, exit: true},
		{args: []string{"-d", "soon"}, code: 2, exit: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("bench/test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := fs.Duration("d", 1e9, "duration")
		code, exit := Parse(fs, tt.args)
		if code != tt.code || exit != tt.exit {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", tt.args, code, exit, tt.code, tt.exit)
		}
		if !exit && d.String() != tt.duration {
			t.Errorf("Parse(%q): -d = %s, want %s", tt.args, d, tt.duration)
		}
	}
}

func TestReport(t *testing.T) {
	var stdout strings.Builder
	if err := Report(&stdout, "| a |\n", ""); err != nil || stdout.String() != "| a |\n" {
		t.Fatalf("Report without -out: %q, %v", stdout.String(), err)
	}
	out := filepath.Join(t.TempDir(), "report.md")
	stdout.Reset()
	if err := Report(&stdout, "| b |\n", out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "| b |\n" || string(data) != "| b |\n" {
		t.Errorf("printed %q, wrote %q; want both %q", stdout.String(), data, "| b |\n")
	}
	if err := Report(io.Discard, "x", filepath.Join(t.TempDir(), "missing", "report.md")); err == nil {
		t.Error("Report to a file in a missing folder succeeded")
	}
}
