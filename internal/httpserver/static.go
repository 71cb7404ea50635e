package httpserver

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// BaseURL parses s as an http(s) URL with a host: the upstream of a Proxy.
func BaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL with a host", s)
	}
	return u, nil
}

// Proxy forwards requests to target. keepHost sends the client's Host on
// (a WebSocket upstream that compares Origin with Host sees its browser's
// origin). An upstream it cannot reach is logged and answered 502 "<name>
// unreachable", nothing more.
func Proxy(target *url.URL, name string, keepHost bool, logger *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			if keepHost {
				r.Out.Host = r.In.Host
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn(name+" unreachable", "upstream", target.String(), "path", r.URL.Path, "err", err)
			http.Error(w, name+" unreachable", http.StatusBadGateway)
		},
	}
}

// Pages serves the files of fsys, each answer with header (a
// Content-Security-Policy, say) and X-Content-Type-Options: nosniff.
func Pages(fsys fs.FS, header http.Header) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		h.Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
