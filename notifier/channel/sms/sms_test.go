package sms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
	"github.com/heraldhq/herald/notifier/channel/sms"
)

// provider is a small stand-in for a paid SMS provider's HTTP API (we have
// no account to test against): it checks basic auth, takes the
// form-encoded message at /Accounts/{id}/Messages.json, records every
// request and answers like the real thing — 201 with a message id, or an
// error document — including failures on demand. It remembers
// idempotency keys, as providers that support them do.
type provider struct {
	t       *testing.T
	account string
	token   string

	mu       sync.Mutex
	requests []providerRequest
	script   []reply // consumed one per request; after it runs out: 201
	byKey    map[string]string
	next     int
}

type providerRequest struct {
	path   string
	form   url.Values
	key    string
	authOK bool
}

type reply struct {
	status int
	header http.Header
	body   string
}

func newProvider(t *testing.T, script ...reply) (*provider, *httptest.Server) {
	p := &provider{t: t, account: "AC123", token: "secret-token", script: script, byKey: map[string]string{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	authOK := ok && user == p.account && pass == p.token
	if err := r.ParseForm(); err != nil {
		p.t.Errorf("provider: form: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, providerRequest{path: r.URL.Path, form: r.PostForm, key: r.Header.Get("Idempotency-Key"), authOK: authOK})
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		p.t.Errorf("provider: content type %q", r.Header.Get("Content-Type"))
	}
	if !authOK {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":20003,"message":"Authenticate","status":401}`)
		return
	}
	if r.URL.Path != "/2010-04-01/Accounts/"+p.account+"/Messages.json" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":20404,"message":"not found","status":404}`)
		return
	}
	if len(p.script) > 0 {
		rp := p.script[0]
		p.script = p.script[1:]
		for k, vs := range rp.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(rp.status)
		fmt.Fprint(w, rp.body)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	sid, seen := p.byKey[key]
	if !seen || key == "" {
		p.next++
		sid = fmt.Sprintf("SM%032d", p.next)
		p.byKey[key] = sid
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": sid, "status": "queued", "to": r.PostForm.Get("To"), "body": r.PostForm.Get("Body"),
		"error_code": nil, "error_message": nil,
	})
}

func (p *provider) got() []providerRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]providerRequest(nil), p.requests...)
}

func newSender(t *testing.T, base string, mod func(*sms.Config)) *sms.Sender {
	t.Helper()
	cfg := sms.Config{BaseURL: base + "/2010-04-01", AccountID: "AC123", AuthToken: "secret-token",
		From: "+15005550006", MaxSegments: 2, Overflow: sms.OverflowTruncate, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := sms.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msg(to, text string) channel.Message {
	return channel.Message{DeliveryID: "dlv_sms_1", EventID: "evt_1", Channel: sms.Name, Attempt: 1, Recipient: to, Text: text}
}

func TestSendAccepted(t *testing.T) {
	p, srv := newProvider(t)
	s := newSender(t, srv.URL, nil)
	res, err := s.Send(context.Background(), msg("+49 151 23456789", "Your order ord_1 is confirmed."))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if !strings.HasPrefix(res.ProviderID, "SM") {
		t.Errorf("provider id = %q, want the provider's sid", res.ProviderID)
	}
	got := p.got()
	if len(got) != 1 {
		t.Fatalf("provider got %d requests, want 1", len(got))
	}
	r := got[0]
	if !r.authOK || r.key != "dlv_sms_1" {
		t.Errorf("auth ok = %v, idempotency key = %q", r.authOK, r.key)
	}
	want := url.Values{"To": {"+4915123456789"}, "From": {"+15005550006"}, "Body": {"Your order ord_1 is confirmed."}}
	if r.form.Encode() != want.Encode() {
		t.Errorf("form = %v, want %v", r.form, want)
	}
}

func TestSendMessagingService(t *testing.T) {
	p, srv := newProvider(t)
	s := newSender(t, srv.URL, func(c *sms.Config) { c.From = ""; c.MessagingServiceID = "MG42" })
	if _, err := s.Send(context.Background(), msg("+14155552671", "hi")); err != nil {
		t.Fatal(err)
	}
	f := p.got()[0].form
	if f.Get("MessagingServiceSid") != "MG42" || f.Has("From") {
		t.Errorf("form = %v, want MessagingServiceSid and no From", f)
	}
}

// The worker retries transient failures: the provider failing twice with
// 500 and then accepting ends in exactly one message, and every attempt
// carried the same idempotency key.
func TestSendRetrySequence(t *testing.T) {
	p, srv := newProvider(t,
		reply{status: 500, body: `{"code":20500,"message":"Internal Server Error","status":500}`},
		reply{status: 500, body: `{"code":20500,"message":"Internal Server Error","status":500}`},
	)
	s := newSender(t, srv.URL, nil)
	var (
		res channel.Result
		err error
	)
	attempts := 0
	for attempts < 5 {
		attempts++
		m := msg("+14155552671", "hello")
		m.Attempt = attempts
		res, err = s.Send(context.Background(), m)
		if err == nil {
			break
		}
		if channel.IsPermanent(err) {
			t.Fatalf("attempt %d: 500 classified as permanent: %v", attempts, err)
		}
		if !strings.Contains(err.Error(), "20500") {
			t.Errorf("attempt %d: error %q does not carry the provider's code", attempts, err)
		}
	}
	if err != nil || attempts != 3 || res.ProviderID == "" {
		t.Fatalf("after %d attempts: result %+v, err %v; want success on the third", attempts, res, err)
	}
	for i, r := range p.got() {
		if r.key != "dlv_sms_1" {
			t.Errorf("request %d idempotency key = %q", i+1, r.key)
		}
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	tests := []struct {
		name       string
		reply      reply
		permanent  bool
		retryAfter time.Duration
		detail     string
	}{
		{"400 invalid number", reply{status: 400, body: `{"code":21211,"message":"Invalid 'To' Phone Number","status":400}`}, true, 0, "21211"},
		{"403", reply{status: 403, body: `{"code":20003,"message":"Permission denied","status":403}`}, true, 0, "20003"},
		{"404", reply{status: 404, body: `not json`}, true, 0, "404"},
		{"408", reply{status: 408}, false, 0, "408"},
		{"429 with Retry-After", reply{status: 429, header: http.Header{"Retry-After": {"30"}}, body: `{"code":20429,"message":"Too Many Requests","status":429}`}, false, 30 * time.Second, "20429"},
		// Retry-After is read by channel.ParseRetryAfter: capped, garbage ignored.
		{"503 with a huge Retry-After", reply{status: 503, header: http.Header{"Retry-After": {"9999999999999"}}}, false, channel.MaxRetryAfter, "503"},
		{"429 with a garbage Retry-After", reply{status: 429, header: http.Header{"Retry-After": {"later"}}}, false, 0, "429"},
		{"502", reply{status: 502, body: `<html>bad gateway</html>`}, false, 0, "502"},
		{"503", reply{status: 503}, false, 0, "503"},
		{"201 with error code", reply{status: 201, body: `{"sid":"SMx","status":"failed","error_code":30006,"error_message":"Landline or unreachable carrier"}`}, true, 0, "30006"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newProvider(t, tc.reply)
			s := newSender(t, srv.URL, nil)
			_, err := s.Send(context.Background(), msg("+14155552671", "hi"))
			if err == nil {
				t.Fatal("send succeeded")
			}
			if got := channel.IsPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tc.permanent, err)
			}
			if got := channel.RetryAfterOf(err); got != tc.retryAfter {
				t.Errorf("retry after = %v, want %v", got, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not mention %q", err, tc.detail)
			}
		})
	}
}

func TestSendWrongCredentialsIsPermanent(t *testing.T) {
	_, srv := newProvider(t)
	s := newSender(t, srv.URL, func(c *sms.Config) { c.AuthToken = "wrong" })
	_, err := s.Send(context.Background(), msg("+14155552671", "hi"))
	if !channel.IsPermanent(err) || !strings.Contains(err.Error(), "20003") {
		t.Errorf("wrong token: err = %v, want permanent with the provider's code", err)
	}
}

func TestSendNetworkErrorIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	s := newSender(t, base, nil)
	_, err := s.Send(context.Background(), msg("+14155552671", "hi"))
	if err == nil || channel.IsPermanent(err) {
		t.Errorf("connection refused: err = %v, want transient", err)
	}
}

func TestSendRefusesBadNumbers(t *testing.T) {
	p, srv := newProvider(t)
	s := newSender(t, srv.URL, nil)
	for _, to := range []string{"", "015123456789", "+49 12", "+999123456789", "not a number", "+1415555267199999"} {
		_, err := s.Send(context.Background(), msg(to, "hi"))
		if !channel.IsPermanent(err) {
			t.Errorf("to %q: err = %v, want permanent", to, err)
		}
	}
	if n := len(p.got()); n != 0 {
		t.Errorf("provider got %d requests for invalid numbers", n)
	}
}

func TestSendLongText(t *testing.T) {
	long := strings.Repeat("0123456789", 40) // 400 GSM-7 chars: 3 segments
	t.Run("truncate", func(t *testing.T) {
		p, srv := newProvider(t)
		s := newSender(t, srv.URL, nil) // max 2 segments
		if _, err := s.Send(context.Background(), msg("+14155552671", long)); err != nil {
			t.Fatal(err)
		}
		body := p.got()[0].form.Get("Body")
		if info := sms.Analyze(body); info.Segments != 2 || info.Units != 306 || !strings.HasSuffix(body, "...") {
			t.Errorf("sent %q (%+v), want 306 septets in 2 segments ending in ...", body, info)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		p, srv := newProvider(t)
		s := newSender(t, srv.URL, func(c *sms.Config) { c.Overflow = sms.OverflowRefuse })
		_, err := s.Send(context.Background(), msg("+14155552671", long))
		if !channel.IsPermanent(err) || !strings.Contains(err.Error(), "3 segments") {
			t.Errorf("err = %v, want permanent naming 3 segments", err)
		}
		if n := len(p.got()); n != 0 {
			t.Errorf("provider got %d requests", n)
		}
	})
}

// Without a text the sender renders one from the event in the user's locale.
func TestSendRendersFromPayload(t *testing.T) {
	p, srv := newProvider(t)
	s := newSender(t, srv.URL, nil)
	payload, _ := json.Marshal(events.OrderCreated{OrderID: "ord_7", UserID: "u", TotalMinor: 202499, Currency: "EUR"})
	tests := []struct{ locale, want string }{
		{"en", "Herald: your order ord_7 is confirmed. Total EUR 2,024.99."},
		{"de-AT", "Herald: Ihre Bestellung ord_7 ist bestätigt. Summe EUR 2.024,99."},
		{"fr-CA", "Herald : votre commande ord_7 est confirmée. Total EUR 2 024,99."},
		{"es", "Herald: your order ord_7 is confirmed. Total EUR 2,024.99."},
		{"", "Herald: your order ord_7 is confirmed. Total EUR 2,024.99."},
	}
	for i, tc := range tests {
		m := msg("+14155552671", "")
		m.Locale, m.EventType, m.Payload = tc.locale, events.TypeOrderCreated, payload
		if _, err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", tc.locale, err)
		}
		if got := p.got()[i].form.Get("Body"); got != tc.want {
			t.Errorf("locale %q: body %q, want %q", tc.locale, got, tc.want)
		} else if info := sms.Analyze(got); info.Encoding != sms.GSM7 || info.Segments != 1 {
			t.Errorf("locale %q: rendered text is %+v, want one GSM-7 segment", tc.locale, info)
		}
	}
	m := msg("+14155552671", "")
	m.EventType = "io.herald.unknown.v1"
	if _, err := s.Send(context.Background(), m); !channel.IsPermanent(err) {
		t.Errorf("no text, unknown event: err = %v, want permanent", err)
	}
}

func TestAnalyze(t *testing.T) {
	type test struct {
		name     string
		text     string
		enc      sms.Encoding
		units    int
		segments int
	}
	tests := []test{
		{"empty", "", sms.GSM7, 0, 0},
		{"ascii", "hello", sms.GSM7, 5, 1},
		{"gsm accents stay gsm", "Bestätigt: ÄÖÜ äöü ß é è à ñ", sms.GSM7, 28, 1},
		{"euro is an escape", "€", sms.GSM7, 2, 1},
		{"80 escapes fill one", strings.Repeat("€", 80), sms.GSM7, 160, 1},
		{"escape not split", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 10), sms.GSM7, 164, 2},
		// 152 + € cannot share part one (153 max, € takes 2): part one ends
		// one septet short.
		{"escape pushes a part", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), sms.GSM7, 306, 3},
		{"one cyrillic letter", "hello д", sms.UCS2, 7, 1},
		{"emoji is a surrogate pair", "ok 👍", sms.UCS2, 5, 1},
		{"surrogate pair not split", strings.Repeat("ж", 66) + "👍" + "ж", sms.UCS2, 69, 1},
		{"surrogate pushes a part", strings.Repeat("ж", 66) + "👍" + strings.Repeat("ж", 66), sms.UCS2, 134, 3},
		{"curly quote is ucs2", "it’s", sms.UCS2, 4, 1},
	}
	// Both encodings' part boundaries: one part holds 160 GSM-7 septets or
	// 70 UCS-2 units; a longer text is split into parts of 153 or 67 (the
	// rest of each part carries the concatenation header).
	for _, b := range []struct {
		char         string
		enc          sms.Encoding
		single, part int
	}{{"a", sms.GSM7, 160, 153}, {"ж", sms.UCS2, 70, 67}} {
		for _, c := range []struct{ units, segments int }{
			{b.single, 1}, {b.single + 1, 2}, {2 * b.part, 2}, {2*b.part + 1, 3},
		} {
			tests = append(tests, test{fmt.Sprintf("%d %s", c.units, b.enc), strings.Repeat(b.char, c.units), b.enc, c.units, c.segments})
		}
	}
	for _, tc := range tests {
		got := sms.Analyze(tc.text)
		if got.Encoding != tc.enc || got.Units != tc.units || got.Segments != tc.segments {
			t.Errorf("%s: Analyze = %+v, want {%s %d %d}", tc.name, got, tc.enc, tc.units, tc.segments)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		max      int
		want     string
		segments int
	}{
		{"fits", "short", 1, "short", 1},
		{"gsm to one", strings.Repeat("a", 200), 1, strings.Repeat("a", 157) + "...", 1},
		{"gsm escapes", strings.Repeat("€", 100), 1, strings.Repeat("€", 78) + "...", 1},
		{"ucs2 to one", strings.Repeat("ж", 100), 1, strings.Repeat("ж", 69) + "…", 1},
		{"trailing space dropped", strings.Repeat("a", 156) + " bbbbbbbbb", 1, strings.Repeat("a", 156) + "...", 1},
		{"ucs2 to two", strings.Repeat("ж", 200), 2, strings.Repeat("ж", 133) + "…", 2},
	}
	for _, tc := range tests {
		got := sms.Truncate(tc.text, tc.max)
		if got != tc.want {
			t.Errorf("%s: Truncate = %q, want %q", tc.name, got, tc.want)
		}
		if s := sms.Analyze(got).Segments; s != tc.segments {
			t.Errorf("%s: %d segments, want %d", tc.name, s, tc.segments)
		}
	}
}

func TestE164(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+4915123456789", "+4915123456789"},
		{"+49 151 2345 6789", "+4915123456789"},
		{"+1 (415) 555-2671", "+14155552671"},
		{"+33612345678", "+33612345678"},
		{"004915123456789", ""},
		{"015123456789", ""},
		{"+4912", ""},
		{"+999123456789", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := sms.E164(tc.in)
		if (err == nil) != (tc.want != "") || got != tc.want {
			t.Errorf("E164(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	load := func(env map[string]string) (sms.Config, error) {
		v := config.New(func(k string) string { return env[k] })
		c := sms.LoadConfig(v)
		return c, v.Err()
	}
	c, err := load(nil)
	if err != nil || c.Enabled() {
		t.Errorf("defaults: enabled %v, err %v; want disabled and valid", c.Enabled(), err)
	}
	c, err = load(map[string]string{"HERALD_SMS_BASE_URL": "https://sms.example.com/2010-04-01", "HERALD_SMS_ACCOUNT_ID": "AC1",
		"HERALD_SMS_AUTH_TOKEN": "t", "HERALD_SMS_FROM": "Herald", "HERALD_SMS_MAX_SEGMENTS": "4", "HERALD_SMS_OVERFLOW": "refuse"})
	if err != nil || !c.Enabled() || c.MaxSegments != 4 || c.Overflow != sms.OverflowRefuse || c.MessagesPath != sms.DefaultMessagesPath {
		t.Errorf("valid config: %+v, %v", c, err)
	}
	// Plain http only to a loopback host (channel.IsLoopbackHost).
	for raw, ok := range map[string]bool{
		"http://localhost:8080": true, "http://127.0.0.1:1": true, "http://[::1]:8080/api": true,
		"http://sms.example.com": false, "http://api.localhost": true, "http://10.0.0.1": false, "ftp://127.0.0.1": false,
	} {
		_, err := load(map[string]string{"HERALD_SMS_BASE_URL": raw, "HERALD_SMS_ACCOUNT_ID": "AC1", "HERALD_SMS_AUTH_TOKEN": "t", "HERALD_SMS_FROM": "Herald"})
		if (err == nil) != ok {
			t.Errorf("HERALD_SMS_BASE_URL=%s: err = %v, want accepted %v", raw, err, ok)
		}
	}
	_, err = load(map[string]string{"HERALD_SMS_BASE_URL": "http://sms.example.com", "HERALD_SMS_FROM": "+123", "HERALD_SMS_MAX_SEGMENTS": "0"})
	for _, want := range []string{"HERALD_SMS_BASE_URL", "HERALD_SMS_ACCOUNT_ID", "HERALD_SMS_AUTH_TOKEN", "HERALD_SMS_FROM", "HERALD_SMS_MAX_SEGMENTS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invalid config error %v does not name %s", err, want)
		}
	}
}

func TestRenderEvent(t *testing.T) {
	created := events.OrderCreated{OrderID: "ord_9", UserID: "u", TotalMinor: 1999, Currency: "EUR"}
	cancelled := events.OrderCancelled{OrderID: "ord_9", UserID: "u", TotalMinor: 1999, Currency: "EUR", Reason: "changed my mind"}
	texts := map[string][2]string{ // language → confirmation, cancellation
		"en": {"Herald: your order ord_9 is confirmed. Total EUR 19.99.", "Herald: your order ord_9 (EUR 19.99) has been cancelled."},
		"de": {"Herald: Ihre Bestellung ord_9 ist bestätigt. Summe EUR 19,99.", "Herald: Ihre Bestellung ord_9 (EUR 19,99) wurde storniert."},
		"fr": {"Herald : votre commande ord_9 est confirmée. Total EUR 19,99.", "Herald : votre commande ord_9 (EUR 19,99) a été annulée."},
	}
	tests := []struct{ locale, lang string }{
		{"de", "de"},
		{"de-DE", "de"},
		{"de-CH", "de"},
		{"fr-FR", "fr"},
		{"en-GB", "en"},
		{"", "en"},
		{"es-ES", "en"},
		{"zz", "en"},
		{"not a locale!", "en"},
	}
	for _, tc := range tests {
		for i, data := range []any{created, cancelled} {
			got, err := sms.RenderEvent(tc.locale, data)
			if want := texts[tc.lang][i]; err != nil || got != want {
				t.Errorf("locale %q, %T: %q, %v; want %q", tc.locale, data, got, err, want)
			}
		}
	}
	if _, err := sms.RenderEvent("en", "not an event"); err == nil {
		t.Error("RenderEvent of an unknown kind succeeded")
	}
	// From a stored payload, as the channel does for a message without text.
	payload, _ := json.Marshal(cancelled)
	if got, err := sms.Render(events.TypeOrderCancelled, "de", payload); err != nil || got != texts["de"][1] {
		t.Errorf("Render(OrderCancelled payload) = %q, %v; want %q", got, err, texts["de"][1])
	}
}

// Every language the email channel speaks has its own SMS text too (a new
// email language without one would silently fall back to English).
func TestEveryEmailLanguageHasAnSMSText(t *testing.T) {
	for _, o := range []any{
		events.OrderCreated{OrderID: "ord_9", UserID: "u", TotalMinor: 1999, Currency: "EUR"},
		events.OrderCancelled{OrderID: "ord_9", UserID: "u", TotalMinor: 1999, Currency: "EUR"},
	} {
		english, err := sms.RenderEvent("en", o)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range email.Locales {
			got, err := sms.RenderEvent(tag.String(), o)
			if err != nil {
				t.Errorf("%s: %v", tag, err)
				continue
			}
			if base, _ := tag.Base(); base.String() != "en" && got == english {
				t.Errorf("%s %T: SMS text is the English one (%q): add a template to render.go", tag, o, got)
			}
			if info := sms.Analyze(got); info.Encoding != sms.GSM7 || info.Segments != 1 {
				t.Errorf("%s %T: %q is %+v, want one GSM-7 segment", tag, o, got, info)
			}
		}
	}
}
