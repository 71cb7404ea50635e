package mailview

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// The viewer serves its page and script, and reads a real mailpit through
// its proxy: a message mailpit caught is listed and can be opened.
func TestViewerOverMailpit(t *testing.T) {
	mp := testenv.NewMailpit(t)
	h, err := Handler(Config{Addr: "127.0.0.1:0", MailpitURL: mp.APIURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	resp, page := get(t, srv.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<script src="app.js"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: HTTP %d, CSP %q:\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), page)
	}
	for _, asset := range []string{"/app.js", "/app.css"} {
		if resp, body := get(t, srv.URL+asset); resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("%s: HTTP %d, %d bytes", asset, resp.StatusCode, len(body))
		}
	}

	// Mail arrives through mailpit's send API (no SMTP client needed here).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	send := `{"From":{"Email":"herald@example.com"},"To":[{"Email":"ada@example.com"}],"Subject":"Order o-1 cancelled","Text":"your order o-1 has been cancelled.","HTML":"<p>your order <b>o-1</b></p>"}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v1/send", strings.NewReader(send))
	req.Header.Set("Content-Type", "application/json")
	sent, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sent.Body.Close()
	if sent.StatusCode != http.StatusOK {
		t.Fatalf("send through the proxy: HTTP %d", sent.StatusCode)
	}

	var list struct {
		MessagesCount int `json:"messages_count"`
		Messages      []struct {
			ID      string
			Subject string
		} `json:"messages"`
	}
	resp, body := get(t, srv.URL+"/api/v1/messages")
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list through the proxy: HTTP %d, %v: %s", resp.StatusCode, err, body)
	}
	if list.MessagesCount != 1 || len(list.Messages) != 1 || list.Messages[0].Subject != "Order o-1 cancelled" {
		t.Fatalf("list = %+v", list)
	}
	var msg struct{ Subject, Text, HTML string }
	_, body = get(t, srv.URL+"/api/v1/message/"+list.Messages[0].ID)
	if err := json.Unmarshal([]byte(body), &msg); err != nil || !strings.Contains(msg.Text, "cancelled") || !strings.Contains(msg.HTML, "<b>o-1</b>") {
		t.Fatalf("message = %+v, %v", msg, err)
	}
}

// A mailpit that is not there is a 502 with a fixed text, not a hang or a
// raw error.
func TestViewerMailpitDown(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	h, err := Handler(Config{Addr: "127.0.0.1:0", MailpitURL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp, body := get(t, srv.URL+"/api/v1/messages")
	if resp.StatusCode != http.StatusBadGateway || strings.TrimSpace(body) != "mail catcher unreachable" {
		t.Fatalf("HTTP %d %q, want 502 mail catcher unreachable", resp.StatusCode, body)
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		env     map[string]string
		enabled bool
		bad     bool
	}{
		{nil, true, false},
		{map[string]string{"HERALD_HTTP_ADDR": httpserver.Off}, false, false},
		{map[string]string{"HERALD_MAILPIT_URL": "127.0.0.1:8026"}, true, true},
		{map[string]string{"HERALD_HTTP_ADDR": httpserver.Off, "HERALD_MAILPIT_URL": "not checked when off"}, false, false},
	}
	for _, tc := range tests {
		v := config.New(func(k string) string { return tc.env[k] })
		c := LoadConfig(v)
		if c.Enabled() != tc.enabled || (v.Err() != nil) != tc.bad {
			t.Errorf("%v: enabled %v, err %v; want %v, error %v", tc.env, c.Enabled(), v.Err(), tc.enabled, tc.bad)
		}
	}
}
