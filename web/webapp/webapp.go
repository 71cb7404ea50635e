// Package webapp serves Herald's web app: the pages built from web/ (make
// web, committed under dist/ so a Go build needs no npm) on one origin with
// the router's GraphQL endpoint, which it proxies, WebSocket included. One
// origin means the browser needs no CORS and the router's own Origin check
// on WebSockets passes without configuration.
package webapp

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

//go:embed all:dist
var dist embed.FS

// Config is where the web app listens.
type Config struct {
	Addr string // listen address; httpserver.Off: not served
}

// LoadConfig declares and reads the web app's variables.
func LoadConfig(v *config.Vars) Config {
	return Config{
		Addr: v.String("HERALD_HTTP_ADDR", "127.0.0.1:8080", "address of the web app ("+httpserver.Off+": not served); it proxies /graphql to the router"),
	}
}

// Enabled reports whether the web app is to be served.
func (c Config) Enabled() bool { return httpserver.Enabled(c.Addr) }

// Handler serves the app at / and proxies /graphql and /healthz to the
// router at routerURL. extra, when not nil, takes POST /dev/… (the
// development stack's sign-in; production leaves it out).
func Handler(routerURL string, extra http.Handler, logger *slog.Logger) (http.Handler, error) {
	logger = logging.OrDiscard(logger)
	target, err := httpserver.BaseURL(routerURL)
	if err != nil {
		return nil, fmt.Errorf("webapp: router URL: %w", err)
	}
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, errors.New("webapp: built pages missing from the build")
	}
	if _, err := fs.Stat(files, "index.html"); err != nil {
		return nil, errors.New("webapp: dist/index.html missing: run make web")
	}
	// The router compares a WebSocket's Origin with the Host it was asked
	// for: keep the browser's, which is this origin.
	proxy := httpserver.Proxy(target, "router", true, logger)
	// The app loads only its own files and talks only to its origin (ws:
	// and wss: for the live feed).
	page := httpserver.Pages(files, http.Header{
		"Content-Security-Policy": {"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"},
		"Referrer-Policy":         {"no-referrer"},
	})
	mux := http.NewServeMux()
	// The router's own methods: GET also carries the WebSocket upgrade.
	mux.Handle("GET /graphql", proxy)
	mux.Handle("POST /graphql", proxy)
	mux.Handle("GET /healthz", proxy)
	if extra == nil {
		// Without it the page says so (it asks for a pasted token instead).
		extra = http.NotFoundHandler()
	}
	mux.Handle("POST /dev/", extra)
	mux.Handle("GET /", page)
	return mux, nil
}
