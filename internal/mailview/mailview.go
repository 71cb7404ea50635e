// Package mailview serves the development stack's mail viewer: a small page
// that lists and shows the mail a local mailpit caught, read through
// mailpit's HTTP API, which it proxies under /api/ so the page and the API
// share one origin.
//
// Why not mailpit's own web UI: a mailpit built with `go install` (how the
// dev stack and the tests get it, from the Go module proxy) has no UI
// assets, since they are built with npm from sources outside the Go module's
// build and are not part of the module; its page stays blank while its API
// works. No npm package ships those assets, and building them would mean
// installing mailpit's whole JavaScript toolchain at `make run`. This page
// needs nothing but the Go build.
package mailview

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/logging"
)

//go:embed static
var static embed.FS

// Config is where the viewer listens and which mailpit it reads.
type Config struct {
	Addr       string // listen address; httpserver.Off: not served
	MailpitURL string // base URL of mailpit's HTTP server (its API is below /api/v1)
}

// LoadConfig declares and reads the viewer's variables.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		Addr:       v.String("HERALD_HTTP_ADDR", "127.0.0.1:8025", "address of the mail viewer page ("+httpserver.Off+": not served)"),
		MailpitURL: v.String("HERALD_MAILPIT_URL", "http://127.0.0.1:8026", "base URL of the mailpit HTTP API the mail viewer reads"),
	}
	if c.Enabled() {
		_, err := httpserver.BaseURL(c.MailpitURL)
		v.Check(err == nil, "HERALD_MAILPIT_URL: %v", err)
	}
	return c
}

// Enabled reports whether the viewer is to be served.
func (c Config) Enabled() bool { return httpserver.Enabled(c.Addr) }

// Handler serves the page at / and proxies /api/ to mailpit.
func Handler(c Config, logger *slog.Logger) (http.Handler, error) {
	logger = logging.OrDiscard(logger)
	target, err := httpserver.BaseURL(c.MailpitURL)
	if err != nil {
		return nil, fmt.Errorf("mailview: HERALD_MAILPIT_URL: %w", err)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, errors.New("mailview: page missing from the build")
	}
	proxy := httpserver.Proxy(target, "mail catcher", false, logger)
	// Mail bodies are shown in a sandboxed frame without scripts; this keeps
	// the page itself to its own files and mailpit's API, and keeps a mail's
	// remote images and scripts out.
	page := httpserver.Pages(files, http.Header{"Content-Security-Policy": {
		"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"}})
	mux := http.NewServeMux()
	mux.Handle("/api/", proxy)
	mux.Handle("GET /{$}", page)
	names, err := fs.Glob(files, "*")
	if err != nil {
		return nil, fmt.Errorf("mailview: %w", err)
	}
	for _, name := range names {
		mux.Handle("GET /"+name, page)
	}
	return mux, nil
}
