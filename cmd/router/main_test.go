package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/router/auth/authtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRun(t *testing.T) {
	// A key set address is all --check-config needs (it fetches nothing).
	jwks := map[string]string{"HERALD_AUTH_JWKS_URLS": "https://id.example.com/.well-known/jwks.json"}
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
		{"check-config valid", []string{"--check-config"}, jwks, 0, []string{"configuration is valid"}},
		{"check-config invalid", []string{"--check-config"}, map[string]string{"HERALD_ROUTER_MAX_DEPTH": "0"}, 2, []string{"HERALD_ROUTER_MAX_DEPTH"}},
		{"no token verification", []string{"--check-config"}, nil, 2, []string{"HERALD_AUTH_JWKS_URLS", "HERALD_AUTH_PUBLIC_KEY_FILE"}},
		{"HS256 secret too short", []string{"--check-config"}, map[string]string{"HERALD_AUTH_DEV_HS256_SECRET": "short"}, 2, []string{"at least 32 bytes"}},
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

// syncBuffer is a bytes.Buffer safe for the router's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SIGHUP reloads the composition: main wires router.NotifyReload into the
// router's configuration. Without that wiring SIGHUP would end the test
// process (its default action), so the test cannot pass by accident.
func TestSIGHUPReloadsTheSupergraph(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "schema", "supergraph.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "supergraph.json")
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		// Port 0: the test never connects, and a port reserved then freed
		// could be taken by another test process before the router binds it.
		"HERALD_HTTP_ADDR":      "127.0.0.1:0",
		"HERALD_ROUTER_CONFIG":  cfgPath,
		"HERALD_AUTH_JWKS_URLS": authtest.NewIssuer(t, "sighup-test", authtest.Ed25519).URL,
		"HERALD_STREAM":         "nats",
		"HERALD_NATS_URL":       testenv.NATS(t),
		// Not the default topic: other packages use the same NATS server.
		"HERALD_TOPIC_NOTIFICATION_STATUS": "RouterSIGHUPTest" + strconv.FormatInt(time.Now().UnixNano(), 10),
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, out) }()
	exited := false
	defer func() {
		cancel()
		if exited {
			return
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit code %d; output:\n%s", code, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("router did not stop within 30s")
		}
	}()
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in the output:\n%s", what, out.String())
			}
			select {
			case code := <-done:
				exited = true
				t.Fatalf("router exited %d:\n%s", code, out.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitLog(`"msg":"router ready"`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`"msg":"supergraph reloaded"`)
}
