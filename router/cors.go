package router

import (
	"net/http"
	"net/url"
	"strings"
)

// corsPolicy answers browsers calling the router from another origin. With
// no origins configured only same-origin pages can read responses (browsers
// enforce it: the router adds no CORS headers); "*" allows any origin.
// Credentials (cookies) are never allowed cross-origin: Herald's clients
// authenticate with the Authorization header, which needs none.
//
// The same list decides which pages may open the WebSocket (browsers do not
// apply CORS to WebSockets, so the router checks Origin itself).
type corsPolicy struct {
	any     bool
	origins map[string]bool // scheme://host[:port], lower-case
}

func newCORSPolicy(origins []string) *corsPolicy {
	p := &corsPolicy{origins: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		p.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return p
}

// validOrigin accepts "*" or an origin: http(s)://host[:port], no path.
func validOrigin(s string) bool {
	if s == "*" {
		return true
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// allowed tells an Origin header allowed cross-origin.
func (p *corsPolicy) allowed(origin string) bool {
	return origin != "" && (p.any || p.origins[strings.ToLower(origin)])
}

// sameOrigin tells a request whose Origin is the router's own host.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// Headers browsers may send cross-origin beyond the CORS-safelisted ones.
const corsAllowHeaders = "Content-Type, Authorization, Traceparent, Tracestate, Apollographql-Client-Name, Apollographql-Client-Version"

// wrap answers preflight requests and marks responses readable by allowed
// origins.
func (p *corsPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !p.allowed(origin) {
			if preflight {
				// No CORS headers: the browser refuses the call.
				w.WriteHeader(http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if p.any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowWebSocket decides a WebSocket upgrade by its Origin: none (not a
// browser), the router's own host, or a listed origin.
func (p *corsPolicy) allowWebSocket(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || sameOrigin(r, origin) || p.allowed(origin)
}
