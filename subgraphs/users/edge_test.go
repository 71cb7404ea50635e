package users_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/gqlserver"
	"github.com/heraldhq/herald/subgraphs/users"
)

// A standalone users subgraph on an address other machines can reach
// refuses to start without the subgraph secret, and says why; loopback, a
// secret, or the explicit insecure setting let it start.
func TestRunRefusesPublicAddressWithoutSecret(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		cfg := users.Config{HTTPAddr: addr, DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "users.db")}}
		err := users.Run(t.Context(), cfg, users.Deps{Logger: testLogger(t), Ready: func(a net.Addr) {
			t.Errorf("%s: serving on %s without a secret", addr, a)
		}})
		if err == nil || !strings.Contains(err.Error(), "HERALD_SUBGRAPH_SECRET") || !strings.Contains(err.Error(), gqlserver.InsecureEnvVar) {
			t.Errorf("Run on %q without a secret = %v, want a refusal naming HERALD_SUBGRAPH_SECRET and %s", addr, err, gqlserver.InsecureEnvVar)
		}
	}
	for _, tc := range []struct {
		addr, secret string
		insecure     bool
	}{
		{"127.0.0.1:4001", "", false},
		{"[::1]:4001", "", false},
		{"localhost:4001", "", false},
		{":4001", "a-long-enough-subgraph-secret", false},
		{"0.0.0.0:4001", "", true},
	} {
		if err := gqlserver.CheckListen(tc.addr, tc.secret, gqlserver.Edge{Insecure: tc.insecure}); err != nil {
			t.Errorf("CheckListen(%q, secret %v, insecure %v) = %v", tc.addr, tc.secret != "", tc.insecure, err)
		}
	}
	for _, addr := range []string{"10.0.0.5:4001", "users.internal:4001", "192.168.1.2:0"} {
		if err := gqlserver.CheckListen(addr, "", gqlserver.Edge{}); err == nil {
			t.Errorf("CheckListen(%q) without a secret passed", addr)
		}
	}
}

// The subgraph enforces its own body-size and depth limits.
func TestRunEnforcesLimits(t *testing.T) {
	cfg := users.Config{HTTPAddr: "127.0.0.1:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "users.db")},
		Edge: gqlserver.Edge{MaxDepth: 15}}
	url := startRun(t, cfg, users.Deps{}).URL()

	// 10 MB declared: 413 before the body is read.
	big, _ := json.Marshal(map[string]any{"query": "{__typename}", "variables": map[string]any{"pad": strings.Repeat("x", 10<<20)}})
	resp, err := http.Post(url+"/graphql", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("10 MB body: HTTP %d, want 413", resp.StatusCode)
	}
	// The same without a Content-Length (chunked): cut at the limit, no data.
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte(`"__typename"`)) || !bytes.Contains(b, []byte("request body too large")) {
			t.Errorf("chunked 10 MB body: HTTP %d %s, want a refusal", resp.StatusCode, b)
		}
	}

	nested := func(levels int) string {
		// __schema > queryType > fields > type > ofType… : levels fields deep.
		q := "name"
		for i := 0; i < levels-5; i++ {
			q = "ofType { " + q + " }"
		}
		return "{ __schema { queryType { fields { type { " + q + " } } } } }"
	}
	for _, tc := range []struct {
		levels int
		ok     bool
	}{{15, true}, {16, false}, {83, false}} {
		r := post(t, url, nested(tc.levels), nil)
		if tc.ok {
			if len(r.Errors) != 0 {
				t.Errorf("%d levels: %+v, want an answer", tc.levels, r.Errors)
			}
			continue
		}
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "QUERY_TOO_DEEP" || r.Data != nil && string(r.Data) != "null" {
			t.Errorf("%d levels: %+v, want one QUERY_TOO_DEEP error and no data", tc.levels, r)
		}
	}
}
