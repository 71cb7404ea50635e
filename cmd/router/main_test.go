package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/service/servicetest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/router/auth/authtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestHelp(t *testing.T) { servicetest.Help(t, cmd.Run) }

func TestRun(t *testing.T) {
	// A key set address is all --check-config needs (it fetches nothing).
	jwks := map[string]string{"HERALD_AUTH_JWKS_URLS": "https://id.example.com/.well-known/jwks.json"}
	servicetest.Run(t, cmd.Run, []servicetest.Case{
		servicetest.AllProblems(map[string]string{"HERALD_SUBGRAPHS": "users", "HERALD_ROUTER_MAX_REQUEST_BYTES": "x"}),
		{Name: "unknown argument", Args: []string{"serve"}, Code: 2, Out: []string{`unknown arguments ["serve"]`}},
		{Name: "check-config valid", Args: []string{"--check-config"}, Env: jwks, Out: []string{"configuration is valid"}},
		{Name: "check-config invalid", Args: []string{"--check-config"}, Env: map[string]string{"HERALD_ROUTER_MAX_DEPTH": "0"}, Code: 2, Out: []string{"HERALD_ROUTER_MAX_DEPTH"}},
		{Name: "no token verification", Args: []string{"--check-config"}, Code: 2, Out: []string{"HERALD_AUTH_JWKS_URLS", "HERALD_AUTH_PUBLIC_KEY_FILE"}},
		{Name: "HS256 secret too short", Args: []string{"--check-config"}, Env: map[string]string{"HERALD_AUTH_DEV_HS256_SECRET": "short"}, Code: 2, Out: []string{"at least 32 bytes"}},
		{Name: "compose check", Args: []string{"compose", "-check", "-schema-dir", filepath.Join("..", "..", "schema"), "-out", filepath.Join("..", "..", "schema", "supergraph.json")}},
		{Name: "compose missing SDL", Args: []string{"compose", "-schema-dir", t.TempDir(), "-out", filepath.Join(t.TempDir(), "x.json")}, Code: 2, Out: []string{"subgraph users"}},
	})
}

func TestComposeWritesDeterministically(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join("..", "..", "schema")
	var outs [2][]byte
	for i := range outs {
		path := filepath.Join(dir, "supergraph.json")
		var log bytes.Buffer
		if code := cmd.Run(context.Background(), []string{"compose", "-schema-dir", schema, "-out", path}, nil, &log); code != 0 {
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
	out := &servicetest.Output{}
	done := make(chan int, 1)
	go func() { done <- cmd.Run(ctx, nil, func(k string) string { return env[k] }, out) }()
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
