// Package playground serves GraphiQL from assets embedded in the binary, so
// the playground works without network access. The vendored files under
// assets/ come from pinned npm packages; fetch-assets.sh reproduces them
// (it needs the npm registry, so it is not a go:generate step).
package playground

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"hash/fnv"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed index.html playground.js assets
var files embed.FS

// Prefix is the URL path under which Handler serves the playground's files.
const Prefix = "/playground/"

// Index serves the playground page.
func Index(w http.ResponseWriter, r *http.Request) {
	serveFile(w, r, "index.html")
}

// Defaults serves what the page starts with: the request headers (the
// development stack's demo token; none in production).
func Defaults(headers map[string]string) http.Handler {
	if headers == nil {
		headers = map[string]string{}
	}
	body, _ := json.Marshal(map[string]any{"headers": headers})
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}

// Assets serves the page's scripts and styles under Prefix.
func Assets(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || name == "" || name == "index.html" || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	serveFile(w, r, name)
}

// asset is one embedded file with its gzip form, computed once on first use:
// GraphiQL's bundle is about 1 MB and shrinks by three quarters.
type asset struct {
	once    sync.Once
	raw     []byte
	gz      []byte
	ctype   string
	etag    string
	missing bool
}

var cache sync.Map // name → *asset

func load(name string) *asset {
	v, _ := cache.LoadOrStore(name, &asset{})
	a := v.(*asset)
	a.once.Do(func() {
		raw, err := files.ReadFile(name)
		if err != nil {
			a.missing = true
			return
		}
		a.raw = raw
		a.ctype = mime.TypeByExtension(path.Ext(name))
		if a.ctype == "" {
			a.ctype = http.DetectContentType(raw)
		}
		a.etag = `"` + strconv.FormatUint(fnv64(raw), 36) + `"`
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		if zw.Close() == nil && buf.Len() < len(raw) {
			a.gz = buf.Bytes()
		}
	})
	return a
}

func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	a := load(name)
	if a.missing {
		cache.Delete(name) // keep unknown names from growing the cache
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache") // revalidate: cheap with the ETag, and never stale after an upgrade
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && match == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.raw
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q, found := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !found {
			return true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && f > 0
	}
	return false
}

func fnv64(b []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}
