package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

const secret = "whsec_test_0123456789"

// receiver is a webhook endpoint as a customer would write it: it verifies
// the signature with webhook.Verify before accepting the request, records
// what it got and answers with the status the test asks for.
type receiver struct {
	mu       sync.Mutex
	requests []received
	status   func(n int) (int, http.Header) // n = 1-based request number
	block    chan struct{}                  // when set, wait on it (or the client leaving)
}

type received struct {
	header    http.Header
	body      []byte
	verifyErr error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), webhook.DefaultTolerance)
	rc.mu.Lock()
	rc.requests = append(rc.requests, received{header: r.Header.Clone(), body: body, verifyErr: err})
	n := len(rc.requests)
	rc.mu.Unlock()
	if rc.block != nil {
		select {
		case <-rc.block:
		case <-r.Context().Done():
			return
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	code, h := http.StatusNoContent, http.Header(nil)
	if rc.status != nil {
		code, h = rc.status(n)
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.WriteHeader(code)
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.requests...)
}

// caFile writes the test server's certificate as a PEM file, so the sender
// trusts it through the same Config.CAFile path as in production.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func message(url string) channel.Message {
	return channel.Message{
		DeliveryID: "dlv_123", EventID: "evt_9", OrderID: "ord_1", UserID: "usr_42",
		Channel: webhook.Name, Attempt: 2, Recipient: url, Category: "ORDER_UPDATES",
		EventType: "io.herald.order.created.v1",
		Payload:   []byte(`{"orderId":"ord_1","totalMinor":2500,"currency":"EUR"}`),
		Secret:    secret,
	}
}

func newSender(t *testing.T, cfg webhook.Config) *webhook.Sender {
	t.Helper()
	s, err := webhook.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendTLSSignedAndVerified(t *testing.T) {
	rc := &receiver{status: func(int) (int, http.Header) {
		return http.StatusOK, http.Header{"X-Request-Id": {"rcv-77"}}
	}}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	s := newSender(t, webhook.Config{Timeout: 10 * time.Second, CAFile: caFile(t, srv), AllowLoopbackHTTP: true})

	res, err := s.Send(context.Background(), message(srv.URL+"/hooks/herald?token=abc"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if res.ProviderID != "rcv-77" {
		t.Errorf("provider id = %q, want the receiver's X-Request-Id", res.ProviderID)
	}
	got := rc.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.verifyErr != nil {
		t.Errorf("receiver could not verify the signature: %v", r.verifyErr)
	}
	for h, want := range map[string]string{
		"Content-Type":           "application/json",
		webhook.HeaderDeliveryID: "dlv_123",
		webhook.HeaderEventID:    "evt_9",
		webhook.HeaderEventType:  "io.herald.order.created.v1",
		webhook.HeaderAttempt:    "2",
	} {
		if v := r.header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	if !strings.HasPrefix(r.header.Get(webhook.HeaderSignature), "t=") || !strings.Contains(r.header.Get(webhook.HeaderSignature), ",v1=") {
		t.Errorf("signature header %q is not t=…,v1=…", r.header.Get(webhook.HeaderSignature))
	}
	var b webhook.Body
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	if b.DeliveryID != "dlv_123" || b.EventID != "evt_9" || b.UserID != "usr_42" || b.OrderID != "ord_1" ||
		string(b.Data) != `{"orderId":"ord_1","totalMinor":2500,"currency":"EUR"}` {
		t.Errorf("body = %+v (data %s)", b, b.Data)
	}
	// The same body signed with another secret must not verify.
	if err := webhook.Verify("other", r.header.Get(webhook.HeaderSignature), r.body, time.Now(), time.Minute); !errors.Is(err, webhook.ErrSignatureInvalid) {
		t.Errorf("verify with the wrong secret: %v, want ErrSignatureInvalid", err)
	}
}

// Without trusting the receiver's CA the TLS handshake fails: transient (the
// operator can fix trust), and no request is made in the clear.
func TestSendTLSUntrustedIsTransient(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	s := newSender(t, webhook.Config{Timeout: 10 * time.Second, AllowLoopbackHTTP: true})
	_, err := s.Send(context.Background(), message(srv.URL))
	if got := channel.PublicReason(webhook.Name, err); got != channel.ReasonTLS {
		t.Errorf("public reason = %q, want %q", got, channel.ReasonTLS)
	}
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("send to untrusted certificate: err = %v, want a transient failure", err)
	}
	if n := len(rc.got()); n != 0 {
		t.Errorf("receiver got %d requests", n)
	}
}

func TestSendPlainLoopback(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc) // http://127.0.0.1:port
	defer srv.Close()

	t.Run("allowed", func(t *testing.T) {
		s := newSender(t, webhook.Config{Timeout: 10 * time.Second, AllowLoopbackHTTP: true})
		if _, err := s.Send(context.Background(), message(srv.URL)); err != nil {
			t.Fatalf("send: %v", err)
		}
		got := rc.got()
		if len(got) != 1 || got[0].verifyErr != nil {
			t.Fatalf("receiver got %d requests (first verify: %v)", len(got), got)
		}
	})
	t.Run("refused by default", func(t *testing.T) {
		before := len(rc.got())
		s := newSender(t, webhook.Config{Timeout: 10 * time.Second})
		_, err := s.Send(context.Background(), message(srv.URL))
		if !channel.IsPermanent(err) {
			t.Fatalf("plain http without permission: err = %v, want permanent", err)
		}
		if n := len(rc.got()); n != before {
			t.Errorf("receiver got a request although the URL was refused")
		}
	})
}

func TestSendClassifiesResponses(t *testing.T) {
	tests := []struct {
		code       int
		header     http.Header
		wantErr    bool
		permanent  bool
		retryAfter time.Duration
	}{
		{code: 200},
		{code: 202},
		{code: 204},
		{code: 400, wantErr: true, permanent: true},
		{code: 401, wantErr: true, permanent: true},
		{code: 404, wantErr: true, permanent: true},
		{code: 410, wantErr: true, permanent: true},
		{code: 422, wantErr: true, permanent: true},
		{code: 408, wantErr: true},
		{code: 429, header: http.Header{"Retry-After": {"7"}}, wantErr: true, retryAfter: 7 * time.Second},
		{code: 500, wantErr: true},
		{code: 502, wantErr: true},
		{code: 503, header: http.Header{"Retry-After": {"120"}}, wantErr: true, retryAfter: 2 * time.Minute},
		// Retry-After is read by channel.ParseRetryAfter: capped, garbage ignored.
		{code: 504, header: http.Header{"Retry-After": {"9999999999999"}}, wantErr: true, retryAfter: channel.MaxRetryAfter},
		{code: 501, header: http.Header{"Retry-After": {"-3"}}, wantErr: true},
		// A redirect is not followed (it could bounce the signed request
		// elsewhere) and not taken as success.
		{code: 307, header: http.Header{"Location": {"https://127.0.0.1:1/elsewhere"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			rc := &receiver{status: func(int) (int, http.Header) { return tc.code, tc.header }}
			srv := httptest.NewTLSServer(rc)
			defer srv.Close()
			s := newSender(t, webhook.Config{Timeout: 10 * time.Second, CAFile: caFile(t, srv), AllowLoopbackHTTP: true})
			_, err := s.Send(context.Background(), message(srv.URL))
			if (err != nil) != tc.wantErr {
				t.Fatalf("HTTP %d: err = %v, want error %v", tc.code, err, tc.wantErr)
			}
			if got := channel.IsPermanent(err); got != tc.permanent {
				t.Errorf("HTTP %d: permanent = %v, want %v (%v)", tc.code, got, tc.permanent, err)
			}
			if got := channel.RetryAfterOf(err); got != tc.retryAfter {
				t.Errorf("HTTP %d: retry after = %v, want %v", tc.code, got, tc.retryAfter)
			}
			if n := len(rc.got()); n != 1 {
				t.Errorf("HTTP %d: receiver got %d requests, want 1", tc.code, n)
			}
		})
	}
}

// A receiver that does not answer within the timeout is retried later.
func TestSendTimeoutIsTransient(t *testing.T) {
	rc := &receiver{block: make(chan struct{})}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	defer close(rc.block)
	s := newSender(t, webhook.Config{Timeout: 300 * time.Millisecond, CAFile: caFile(t, srv), AllowLoopbackHTTP: true})
	_, err := s.Send(context.Background(), message(srv.URL))
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("timeout: err = %v, want transient", err)
	}
}

func TestSendConnectionRefusedIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	s := newSender(t, webhook.Config{Timeout: 5 * time.Second, AllowLoopbackHTTP: true})
	_, err := s.Send(context.Background(), message(url))
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("connection refused: err = %v, want transient", err)
	}
}

func TestSendRefusesBadInput(t *testing.T) {
	s := newSender(t, webhook.Config{Timeout: time.Second, AllowLoopbackHTTP: true})
	noSecret := message("https://127.0.0.1:1/x")
	noSecret.Secret = ""
	badPayload := message("https://127.0.0.1:1/x")
	badPayload.Payload = []byte("{not json")
	tests := map[string]channel.Message{
		"plain http to a public host": message("http://hooks.example.com/x"),
		"other scheme":                message("ftp://127.0.0.1/x"),
		"no host":                     message("https:///x"),
		"credentials in url":          message("https://user:pw@127.0.0.1:1/x"),
		"not a url":                   message("://"),
		"no secret":                   noSecret,
		"payload not json":            badPayload,
	}
	for name, m := range tests {
		_, err := s.Send(context.Background(), m)
		if !channel.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_764_000_000, 0)
	body := []byte(`{"deliveryId":"d1"}`)
	good := webhook.SignatureHeader(secret, now, body)
	sig := webhook.Sign(secret, now, body)
	old := webhook.SignatureHeader(secret, now.Add(-10*time.Minute), body)
	tests := []struct {
		name   string
		header string
		body   []byte
		want   error
	}{
		{"valid", good, body, nil},
		{"valid with spaces", strings.ReplaceAll(good, ",", ", "), body, nil},
		{"rotation: second v1 matches", "t=1764000000,v1=" + strings.Repeat("00", 32) + ",v1=" + sig, body, nil},
		{"unknown scheme ignored", good + ",v9=zzz", body, nil},
		{"tampered body", good, []byte(`{"deliveryId":"d2"}`), webhook.ErrSignatureInvalid},
		{"timestamp changed", strings.Replace(good, "t=1764000000", "t=1764000001", 1), body, webhook.ErrSignatureInvalid},
		{"too old", old, body, webhook.ErrTimestampTooOld},
		{"from the future", webhook.SignatureHeader(secret, now.Add(10*time.Minute), body), body, webhook.ErrTimestampTooOld},
		{"missing", "", body, webhook.ErrNoSignature},
		{"no timestamp", "v1=" + sig, body, webhook.ErrMalformed},
		{"no signature", "t=1764000000", body, webhook.ErrMalformed},
		{"bad hex", "t=1764000000,v1=xyz", body, webhook.ErrMalformed},
		{"short signature", "t=1764000000,v1=abcd", body, webhook.ErrMalformed},
		{"garbage", "hello", body, webhook.ErrMalformed},
	}
	for _, tc := range tests {
		err := webhook.Verify(secret, tc.header, tc.body, now, webhook.DefaultTolerance)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A tolerance of zero turns the age check off (for replaying stored requests).
	if err := webhook.Verify(secret, old, body, now, 0); err != nil {
		t.Errorf("verify without tolerance: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"HERALD_WEBHOOK_TIMEOUT": "3s", "HERALD_WEBHOOK_ALLOW_LOOPBACK_HTTP": "true"}
	v := config.New(func(k string) string { return env[k] })
	c := webhook.LoadConfig(v)
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 3*time.Second || !c.AllowLoopbackHTTP {
		t.Errorf("config = %+v", c)
	}
	env = map[string]string{"HERALD_WEBHOOK_TIMEOUT": "0s", "HERALD_WEBHOOK_CA_FILE": "/nonexistent/ca.pem"}
	v = config.New(func(k string) string { return env[k] })
	webhook.LoadConfig(v)
	err := v.Err()
	if err == nil || !strings.Contains(err.Error(), "HERALD_WEBHOOK_TIMEOUT") || !strings.Contains(err.Error(), "HERALD_WEBHOOK_CA_FILE") {
		t.Errorf("invalid config error = %v, want both problems", err)
	}
}

// verifyHerald is the standard-library-only verifier printed in
// docs/channels.md; this test keeps the documentation honest.
func verifyHerald(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func TestDocumentedVerifierAgrees(t *testing.T) {
	now := time.Now()
	body := []byte(`{"deliveryId":"d1","data":{"x":1}}`)
	h := webhook.SignatureHeader(secret, now, body)
	if !verifyHerald([]byte(secret), h, body, now, time.Minute) {
		t.Error("documented verifier rejects a valid signature")
	}
	if verifyHerald([]byte(secret), h, append(body, ' '), now, time.Minute) {
		t.Error("documented verifier accepts a changed body")
	}
	if verifyHerald([]byte("other"), h, body, now, time.Minute) {
		t.Error("documented verifier accepts the wrong secret")
	}
	if verifyHerald([]byte(secret), h, body, now.Add(2*time.Minute), time.Minute) {
		t.Error("documented verifier accepts an old signature")
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw           string
		allowLoopback bool
		ok            bool
	}{
		{"https://hooks.example.com/x?token=1", false, true},
		{"https://127.0.0.1:8443/x", false, false},
		{"https://127.0.0.1:8443/x", true, true},
		{"https://localhost/x", false, false},
		{"https://8.8.8.8/x", false, true},
		{"https://100.64.0.1/x", false, false},
		{"https://198.18.0.1/x", false, false},
		{"https://192.0.0.1/x", false, false},
		{"https://255.255.255.255/x", false, false},
		{"https://169.254.169.254/x", false, false},
		{"https://127.1/x", false, false},
		{"https://0x7f.1/x", false, false},
		{"https://2130706433/x", false, false},
		{"https://0177.0.0.1/x", false, false},
		{"https://[::ffff:127.0.0.1]/x", false, false},
		{"https://[::ffff:a00:1]/x", false, false},
		{"https://[64:ff9b::a00:1]/x", false, false},
		{"https://[fd00::1]/x", false, false},
		{"https://1.2.3.4.5/x", false, false},
		{"http://hooks.example.com/x", true, false},
		{"http://127.0.0.1:8080/x", false, false},
		{"http://127.0.0.1:8080/x", true, true},
		{"http://127.9.9.9/x", true, true},
		{"http://LOCALHOST:3000/x", true, true},
		{"http://[::1]:3000/x", true, true},
		{"http://api.localhost/x", true, true}, // the users service's rule too (internal/netguard)
		{"http://api.localhost/x", false, false},
		{"http://10.0.0.1/x", true, false},
		{"https://user:pw@hooks.example.com/x", false, false},
		{"ftp://127.0.0.1/x", true, false},
		{"https:///x", false, false},
	}
	for _, tc := range tests {
		_, err := webhook.CheckURL(tc.raw, tc.allowLoopback)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, loopback %v) = %v, want accepted %v", tc.raw, tc.allowLoopback, err, tc.ok)
		}
	}
}
