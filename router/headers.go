package router

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/identity"
	"github.com/heraldhq/herald/internal/subgraphauth"
)

// What reaches a subgraph from the client's request is decided here, in the
// subgraph client's transport: the engine fetches with the request's context,
// so the handler puts the headers it allows into that context and the
// transport copies them onto every fetch. Nothing else from the client is
// forwarded (the engine itself adds only Accept, Content-Type and
// Accept-Encoding).

// W3C trace context header names.
const (
	headerTraceparent = "Traceparent"
	headerTracestate  = "Tracestate"
)

type outboundKey struct{}

// outbound is what one client request sends to subgraphs. It is also the
// engine's resolve.SubgraphHeadersBuilder, only for the hash: request
// deduplication shares an answer only between requests whose forwarded
// headers (credentials among them) are equal. The trace context is left out
// of the hash (every request has its own); a shared fetch carries the
// trace of the request that made it.
type outbound struct {
	header http.Header // canonical names
	hash   uint64      // of the forwarded headers but trace context; 0 when none
}

// HeadersForSubgraph returns no headers: the subgraph transport adds them.
func (o *outbound) HeadersForSubgraph(string) (http.Header, uint64) { return nil, o.hash }

// HashAll returns the same hash for every subgraph: all get the same headers.
func (o *outbound) HashAll() uint64 { return o.hash }

// canonicalHeaders canonicalises configured header names once.
func canonicalHeaders(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(n)))
	}
	return out
}

// withOutbound returns ctx carrying the headers forwarded to subgraphs: the
// listed ones the client sent, and always a traceparent, the client's when
// it is listed and valid, otherwise a new one (the router then starts the
// trace, and any tracestate is dropped because it belongs to another trace).
//
// The caller's verified identity (identity.From(ctx)) goes in the identity
// headers; copies a client sent are never forwarded, whatever the list says.
func withOutbound(ctx context.Context, client http.Header, forward []string) context.Context {
	h := make(http.Header, len(forward)+4)
	for _, name := range forward {
		if v := client[name]; len(v) > 0 {
			h[name] = v
		}
	}
	id := identity.From(ctx)
	id.SetHeader(h) // strips the client's copies first
	if tp := h.Get(headerTraceparent); !events.ValidTraceParent(tp) {
		h.Set(headerTraceparent, newTraceparent())
		delete(h, headerTracestate)
	} else {
		h[headerTraceparent] = h[headerTraceparent][:1]
	}
	return context.WithValue(ctx, outboundKey{}, &outbound{header: h, hash: hashIdentity(hashForwarded(h, forward), id)})
}

// hashForwarded hashes the forwarded headers in configuration order,
// trace context excluded.
func hashForwarded(h http.Header, forward []string) uint64 {
	d := xxhash.New()
	n := 0
	for _, name := range forward {
		if name == headerTraceparent || name == headerTracestate {
			continue
		}
		vs, ok := h[name]
		if !ok {
			continue
		}
		n++
		_, _ = d.WriteString(name)
		for _, v := range vs {
			_, _ = d.Write([]byte{0})
			_, _ = d.WriteString(v)
		}
		_, _ = d.Write([]byte{1})
	}
	if n == 0 {
		return 0
	}
	return d.Sum64()
}

// hashIdentity mixes the caller into the forwarded headers' hash: requests
// of different callers never share a deduplicated fetch or a subscription
// trigger.
func hashIdentity(h uint64, id identity.Identity) uint64 {
	if id.Anonymous() {
		return h
	}
	d := xxhash.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], h)
	_, _ = d.Write(b[:])
	_, _ = d.WriteString(id.Subject)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(id.Service)
	for _, s := range id.Scopes {
		_, _ = d.Write([]byte{0})
		_, _ = d.WriteString(s)
	}
	return d.Sum64()
}

func outboundFrom(ctx context.Context) *outbound {
	o, _ := ctx.Value(outboundKey{}).(*outbound)
	return o
}

// newTraceparent starts a sampled trace with random ids.
func newTraceparent() string {
	var ids [24]byte
	_, _ = rand.Read(ids[:]) // never fails (crypto/rand since Go 1.24)
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], ids[:16])
	b[35] = '-'
	hex.Encode(b[36:52], ids[16:])
	copy(b[52:], "-01")
	return string(b[:])
}

// validHeaderName tells a configured header name that can be forwarded.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// subgraphTransport decorates every subgraph fetch: the shared secret, the
// client's forwarded headers and trace context, and fetch metrics per
// subgraph.
type subgraphTransport struct {
	base    http.RoundTripper
	secret  string
	names   map[string]string // scheme://host/path and host → subgraph name
	metrics *metrics          // nil: none
}

func newSubgraphTransport(base http.RoundTripper, cfg Config, m *metrics) *subgraphTransport {
	t := &subgraphTransport{base: base, secret: cfg.SubgraphSecret, names: make(map[string]string), metrics: m}
	hosts := make(map[string]int)
	for _, sg := range cfg.Subgraphs {
		u, err := url.Parse(sg.URL)
		if err != nil || u.Host == "" {
			continue
		}
		t.names[u.Scheme+"://"+u.Host+u.Path] = sg.Name
		hosts[u.Host]++
		t.names[u.Host] = sg.Name
	}
	for h, n := range hosts {
		if n > 1 {
			delete(t.names, h) // several subgraphs behind one host: the path tells them apart
		}
	}
	return t
}

// subgraphName names the subgraph a fetch goes to, "other" when unknown
// (a bounded label either way).
func (t *subgraphTransport) subgraphName(u *url.URL) string {
	if n, ok := t.names[u.Scheme+"://"+u.Host+u.Path]; ok {
		return n
	}
	if n, ok := t.names[u.Host]; ok {
		return n
	}
	return "other"
}

func (t *subgraphTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the caller's request.
	out := new(http.Request)
	*out = *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	if o := outboundFrom(req.Context()); o != nil {
		for k, v := range o.header {
			out.Header[k] = v
		}
	}
	if t.secret != "" {
		out.Header.Set(subgraphauth.Header, t.secret)
	}
	if t.metrics == nil {
		return t.base.RoundTrip(out)
	}
	name := t.subgraphName(req.URL)
	start := time.Now()
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		t.metrics.subgraphFetch(name, start, false)
		return nil, err
	}
	ok := resp.StatusCode < 400
	if resp.Body == nil || resp.Body == http.NoBody {
		t.metrics.subgraphFetch(name, start, ok)
		return resp, nil
	}
	// The fetch ends when its body has been read: observe then.
	resp.Body = &observedBody{ReadCloser: resp.Body, done: func(readErr bool) {
		t.metrics.subgraphFetch(name, start, ok && !readErr)
	}}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *subgraphTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// observedBody calls done once, at EOF, on a read error or on Close.
type observedBody struct {
	io.ReadCloser
	once sync.Once
	done func(readErr bool)
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(func() { b.done(err != io.EOF) })
	}
	return n, err
}

func (b *observedBody) Close() error {
	b.once.Do(func() { b.done(false) })
	return b.ReadCloser.Close()
}
