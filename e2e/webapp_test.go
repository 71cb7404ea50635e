package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestWebApp drives the web app in Debian's Chromium (Playwright, web/tests)
// against the development stack as `make run` starts it: bin/herald with its
// own identity provider, embedded NATS and SQLite, sending mail to mailpit.
// Screenshots of each page stay in .cache/webapp/screenshots; on failure
// Playwright's trace and screenshot are listed with their paths.
func TestWebApp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the dev stack and a browser")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(root, "web")
	chromium := os.Getenv("HERALD_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	for what, path := range map[string]string{
		"Chromium (apt-get install chromium)": chromium,
		"web/node_modules (npm ci in web/)":   filepath.Join(web, "node_modules", ".bin", "playwright"),
		"npx (Node.js; apt-get install npm)":  "",
	} {
		if path == "" {
			_, err = exec.LookPath("npx")
		} else {
			_, err = os.Stat(path)
		}
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing: %v", what, err)
			}
			t.Skipf("%s missing: %v", what, err)
		}
	}

	mp := testenv.Mailpit(t)
	ports := testenv.Ports(t, 6) // the stack binds them: see testenv.FreePorts
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	users, orders, notifier, router, app := addr(0), addr(1), addr(2), addr(3), addr(4)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".run"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HERALD_LOG_LEVEL":          "debug",
		"HERALD_NATS_URL":           "nats://" + addr(5),
		"HERALD_USERS_HTTP_ADDR":    users,
		"HERALD_ORDERS_HTTP_ADDR":   orders,
		"HERALD_NOTIFIER_HTTP_ADDR": notifier,
		"HERALD_ROUTER_HTTP_ADDR":   router,
		"HERALD_WEBAPP_HTTP_ADDR":   app,
		"HERALD_MAILVIEW_HTTP_ADDR": "off",
		"HERALD_USERS_URL":          "http://" + users + "/graphql",
		"HERALD_SUBGRAPHS":          "users=http://" + users + "/graphql,orders=http://" + orders + "/graphql,notifications=builtin",
		"HERALD_SMTP_ADDR":          mp.SMTPAddr,
		"HERALD_SMTP_TLS":           "starttls-required",
		"HERALD_SMTP_CA_FILE":       mp.CAFile,
	}
	logPath := filepath.Join(logDir(t), "herald.log")
	herald := exec.Command(filepath.Join(testenv.Binaries(t), "herald"))
	herald.Dir, herald.Env = dir, testenv.Environ(env)
	p, err := testenv.StartProc("herald", herald, logPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://"+app+"/healthz", testenv.StatusOK); err != nil {
		t.Fatal(err)
	}

	artefacts := filepath.Join(root, ".cache", "webapp")
	if err := os.RemoveAll(artefacts); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "npx", "--no-install", "playwright", "test")
	cmd.Dir = web
	cmd.Env = append(os.Environ(),
		"HERALD_WEB_URL=http://"+app,
		"HERALD_MAILPIT_API="+mp.APIURL,
		"HERALD_WEB_ARTEFACTS="+artefacts,
		"HERALD_CHROMIUM="+chromium,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("playwright:\n%s", out)
	t.Logf("screenshots: %s", filepath.Join(artefacts, "screenshots"))
	if err != nil {
		// Playwright keeps a trace and a screenshot of the failing test.
		_ = filepath.WalkDir(filepath.Join(artefacts, "playwright"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".zip") || strings.HasSuffix(path, ".png")) {
				t.Logf("failure artefact: %s", path)
			}
			return nil
		})
		t.Fatalf("browser test failed: %v (trace: npx playwright show-trace <trace.zip> in web/)\nherald log (tail):\n%s", err, p.Tail(8192))
	}
}
