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
	"net/http/httputil"
	"net/url"

	"github.com/heraldhq/herald/internal/config"
)

//go:embed static
var static embed.FS

// Off is the address value that turns the viewer off.
const Off = "off"

// Config is where the viewer listens and which mailpit it reads.
type Config struct {
	Addr       string // listen address; Off: not served
	MailpitURL string // base URL of mailpit's HTTP server (its API is below /api/v1)
}

// LoadConfig declares and reads the viewer's variables.
func LoadConfig(v *config.Vars) Config {
	c := Config{
		Addr:       v.String("HERALD_HTTP_ADDR", "127.0.0.1:8025", "address of the mail viewer page ("+Off+": not served)"),
		MailpitURL: v.String("HERALD_MAILPIT_URL", "http://127.0.0.1:8026", "base URL of the mailpit HTTP API the mail viewer reads"),
	}
	if c.Enabled() {
		_, err := mailpitURL(c.MailpitURL)
		v.Check(err == nil, "HERALD_MAILPIT_URL: %v", err)
	}
	return c
}

// Enabled reports whether the viewer is to be served.
func (c Config) Enabled() bool { return c.Addr != "" && c.Addr != Off }

func mailpitURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL with a host", s)
	}
	return u, nil
}

// Handler serves the page at / and proxies /api/ to mailpit.
func Handler(c Config, logger *slog.Logger) (http.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	target, err := mailpitURL(c.MailpitURL)
	if err != nil {
		return nil, fmt.Errorf("mailview: HERALD_MAILPIT_URL: %w", err)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, errors.New("mailview: page missing from the build")
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn("mail catcher unreachable", "mailpit", target.String(), "path", r.URL.Path, "err", err)
			http.Error(w, "mail catcher unreachable", http.StatusBadGateway)
		},
	}
	pages := http.FileServerFS(files)
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Mail bodies are shown in a sandboxed frame without scripts; this
		// keeps the page itself to its own files and mailpit's API, and
		// keeps a mail's remote images and scripts out.
		w.Header().Set("Content-Security-Policy",
			"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		pages.ServeHTTP(w, r)
	})
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
