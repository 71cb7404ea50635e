package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  []string
	}{
		{"help", []string{"--help"}, nil, 0, []string{"HERALD_SUBGRAPHS", "HERALD_ROUTER_CONFIG", "HERALD_HTTP_ADDR", "compose"}},
		{"invalid config", nil, map[string]string{"HERALD_SUBGRAPHS": "users", "HERALD_ROUTER_MAX_REQUEST_BYTES": "x"}, 2,
			[]string{"HERALD_SUBGRAPHS", "HERALD_ROUTER_MAX_REQUEST_BYTES"}},
		{"unknown argument", []string{"serve"}, nil, 2, []string{`unknown argument "serve"`}},
		{"compose check", []string{"compose", "-check", "-schema-dir", filepath.Join("..", "..", "schema"), "-out", filepath.Join("..", "..", "schema", "supergraph.json")}, nil, 0, nil},
		{"compose missing SDL", []string{"compose", "-schema-dir", t.TempDir(), "-out", filepath.Join(t.TempDir(), "x.json")}, nil, 2, []string{"subgraph users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; output:\n%s", code, tt.wantCode, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not mention %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestComposeWritesDeterministically(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join("..", "..", "schema")
	var outs [2][]byte
	for i := range outs {
		path := filepath.Join(dir, "supergraph.json")
		var log bytes.Buffer
		if code := run(context.Background(), []string{"compose", "-schema-dir", schema, "-out", path}, nil, &log); code != 0 {
			t.Fatalf("compose exit %d: %s", code, log.String())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = b
	}
	committed, err := os.ReadFile(filepath.Join(schema, "supergraph.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(outs[0], outs[1]) || !bytes.Equal(outs[0], committed) {
		t.Error("compose output differs between runs or from the committed schema/supergraph.json")
	}
}
