package email

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/notifier/channel"
)

func orderPayload(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(sampleOrder())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func baseConfig() Config {
	return Config{
		Addr: "127.0.0.1:1", TLS: TLSStartTLSRequired, From: "Herald <notifications@herald.local>", Timeout: 10 * time.Second,
		UnsubscribeURL:    "https://herald.example.com/unsubscribe?user={user_id}&category={category}",
		UnsubscribeMailto: "unsubscribe@herald.example.com",
	}
}

func newTestSender(t *testing.T, cfg Config) *Sender {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func orderMessage(t *testing.T, to string) channel.Message {
	return channel.Message{
		DeliveryID: uuid.NewString(), EventID: "evt_1", OrderID: "ord_01HX7", UserID: "usr 42",
		Channel: Name, Attempt: 1, Recipient: to, Locale: "de-AT", Category: "ORDER_UPDATES",
		EventType: events.TypeOrderCreated, Payload: orderPayload(t),
	}
}

// built renders m and parses it back as a receiver would.
func built(t *testing.T, s *Sender, m channel.Message) *mail.Message {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteTo(&buf, m); err != nil {
		t.Fatalf("build: %v", err)
	}
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatalf("parse built message: %v", err)
	}
	return msg
}

func TestBuildHeaders(t *testing.T) {
	s := newTestSender(t, baseConfig())
	oneClick := "<https://herald.example.com/unsubscribe?user=usr+42&category=ORDER_UPDATES>, " +
		"<mailto:unsubscribe@herald.example.com?subject=unsubscribe%20ORDER_UPDATES>"
	tests := []struct {
		name      string
		mod       func(*channel.Message)
		cfg       func(*Config)
		unsub     string
		post      string
		subject   string
		extraName string
		extra     string
	}{
		{name: "non-critical: one-click", unsub: oneClick, post: "List-Unsubscribe=One-Click", subject: "Bestellung ord_01HX7 bestätigt"},
		{name: "critical: none", mod: func(m *channel.Message) { m.Critical = true; m.Category = "SECURITY" }, subject: "Bestellung ord_01HX7 bestätigt"},
		{name: "critical ignores a worker header", mod: func(m *channel.Message) {
			m.Critical = true
			m.Headers = map[string]string{"List-Unsubscribe": "<https://x.example/u>"}
		}},
		{name: "mailto only: no one-click", cfg: func(c *Config) { c.UnsubscribeURL = "" },
			unsub: "<mailto:unsubscribe@herald.example.com?subject=unsubscribe%20ORDER_UPDATES>"},
		{name: "nothing configured", cfg: func(c *Config) { c.UnsubscribeURL, c.UnsubscribeMailto = "", "" }},
		{name: "worker header wins", mod: func(m *channel.Message) {
			m.Headers = map[string]string{"list-unsubscribe": "<https://x.example/u/abc>"}
		}, unsub: "<https://x.example/u/abc>", post: "List-Unsubscribe=One-Click"},
		{name: "given body, english", mod: func(m *channel.Message) {
			m.Locale, m.Subject, m.Text, m.HTML = "en", "Custom subject", "plain body", "<p>html body</p>"
		}, unsub: oneClick, post: "List-Unsubscribe=One-Click", subject: "Custom subject"},
		{name: "extra headers, reserved ones ignored", mod: func(m *channel.Message) {
			m.Headers = map[string]string{"X-Herald-Event": "evt_1", "To": "attacker@example.com", "Message-ID": "<forged@x>"}
		}, unsub: oneClick, post: "List-Unsubscribe=One-Click", extraName: "X-Herald-Event", extra: "evt_1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s := newTestSender(t, cfg)
			m := orderMessage(t, "ada@example.com")
			if tc.mod != nil {
				tc.mod(&m)
			}
			got := built(t, s, m)
			if v := got.Header.Get("List-Unsubscribe"); v != tc.unsub {
				t.Errorf("List-Unsubscribe = %q, want %q", v, tc.unsub)
			}
			if v := got.Header.Get("List-Unsubscribe-Post"); v != tc.post {
				t.Errorf("List-Unsubscribe-Post = %q, want %q", v, tc.post)
			}
			if v := got.Header.Get("Message-Id"); v != "<"+m.DeliveryID+"@herald.local>" {
				t.Errorf("Message-ID = %q, want <%s@herald.local>", v, m.DeliveryID)
			}
			if to := got.Header.Get("To"); to != "<ada@example.com>" {
				t.Errorf("To = %q", to)
			}
			if tc.subject != "" {
				dec := new(mime.WordDecoder)
				if subj, _ := dec.DecodeHeader(got.Header.Get("Subject")); subj != tc.subject {
					t.Errorf("Subject = %q, want %q", subj, tc.subject)
				}
			}
			if tc.extraName != "" && got.Header.Get(tc.extraName) != tc.extra {
				t.Errorf("%s = %q, want %q", tc.extraName, got.Header.Get(tc.extraName), tc.extra)
			}
		})
	}
	// Two builds of one delivery carry the same Message-ID.
	m := orderMessage(t, "ada@example.com")
	if a, b := built(t, s, m).Header.Get("Message-Id"), built(t, s, m).Header.Get("Message-Id"); a != b {
		t.Errorf("Message-ID changed between attempts: %q, %q", a, b)
	}
}

func TestBuildRefuses(t *testing.T) {
	s := newTestSender(t, baseConfig())
	tests := map[string]func(*channel.Message){
		"bad recipient":     func(m *channel.Message) { m.Recipient = "not an address" },
		"no delivery id":    func(m *channel.Message) { m.DeliveryID = "" },
		"unknown event":     func(m *channel.Message) { m.EventType = "io.herald.unknown.v1" },
		"broken payload":    func(m *channel.Message) { m.Payload = []byte("{") },
		"html without text": func(m *channel.Message) { m.HTML = "<p>x</p>"; m.Subject = "s" },
	}
	for name, mod := range tests {
		m := orderMessage(t, "ada@example.com")
		mod(&m)
		_, err := s.Send(context.Background(), m)
		if !channel.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		v := config.New(func(k string) string { return env[k] })
		c := LoadConfig(v)
		return c, v.Err()
	}
	c, err := load(nil)
	if err != nil || c.TLS != TLSStartTLSRequired || c.Addr != "127.0.0.1:1025" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	_, err = load(map[string]string{"HERALD_SMTP_ADDR": "nohost", "HERALD_MAIL_UNSUBSCRIBE_URL": "http://x.example/u",
		"HERALD_MAIL_UNSUBSCRIBE_MAILTO": "Name <a@b.c>", "HERALD_SMTP_PASSWORD": "p"})
	for _, want := range []string{"HERALD_SMTP_ADDR", "HERALD_MAIL_UNSUBSCRIBE_URL", "HERALD_MAIL_UNSUBSCRIBE_MAILTO", "HERALD_SMTP_PASSWORD"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func uniqueAddress(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8] + "@example.com"
}

// waitMail polls mailpit until want messages reached to, or gives up.
func waitMail(t *testing.T, mp *testenv.MailpitServer, to string, want int) []testenv.MailMessage {
	t.Helper()
	return testwait.Value(t, func() ([]testenv.MailMessage, error) { return mp.Messages(context.Background(), to) },
		func(msgs []testenv.MailMessage) bool { return len(msgs) >= want })
}

// Over real SMTP with STARTTLS required: a German order confirmation
// (rendered from the payload) and a critical message arrive with the
// expected headers.
func TestSendMailpit(t *testing.T) {
	mp := testenv.Mailpit(t)
	cfg := baseConfig()
	cfg.Addr, cfg.CAFile = mp.SMTPAddr, mp.CAFile
	s := newTestSender(t, cfg)

	to := uniqueAddress("ada")
	m := orderMessage(t, to)
	res, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if want := m.DeliveryID + "@herald.local"; res.ProviderID != want {
		t.Errorf("provider id = %q, want %q", res.ProviderID, want)
	}
	critTo := uniqueAddress("crit")
	crit := orderMessage(t, critTo)
	crit.Critical, crit.Category, crit.Locale = true, "SECURITY", "fr-CA"
	if _, err := s.Send(context.Background(), crit); err != nil {
		t.Fatalf("send critical: %v", err)
	}

	got := waitMail(t, mp, to, 1)
	if len(got) != 1 {
		t.Fatalf("mailpit has %d messages for %s, want 1", len(got), to)
	}
	if got[0].Subject != "Bestellung ord_01HX7 bestätigt" || got[0].MessageID != res.ProviderID ||
		!strings.Contains(got[0].Text, "Summe: EUR 2.024,99") || !strings.Contains(got[0].HTML, `<html lang="de">`) {
		t.Errorf("received %+v", got[0])
	}
	h, err := mp.Headers(context.Background(), got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"List-Unsubscribe":      "<https://herald.example.com/unsubscribe?user=usr+42&category=ORDER_UPDATES>, <mailto:unsubscribe@herald.example.com?subject=unsubscribe%20ORDER_UPDATES>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Message-Id":            "<" + res.ProviderID + ">",
		"Content-Language":      "de",
	} {
		if v := h.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}

	got = waitMail(t, mp, critTo, 1)
	if len(got) != 1 {
		t.Fatalf("mailpit has %d messages for %s, want 1", len(got), critTo)
	}
	if got[0].Subject != "Commande ord_01HX7 confirmée" {
		t.Errorf("critical subject = %q", got[0].Subject)
	}
	if h, err = mp.Headers(context.Background(), got[0].ID); err != nil {
		t.Fatal(err)
	}
	if h.Get("List-Unsubscribe") != "" || h.Get("List-Unsubscribe-Post") != "" {
		t.Errorf("critical mail carries unsubscribe headers: %v", h)
	}
	if h.Get("Message-Id") != "<"+crit.DeliveryID+"@herald.local>" {
		t.Errorf("critical Message-ID = %q", h.Get("Message-Id"))
	}
}

// Without the relay's CA the certificate cannot be verified: the send fails
// transiently and nothing goes out in clear text.
func TestSendMailpitUntrusted(t *testing.T) {
	mp := testenv.Mailpit(t)
	cfg := baseConfig()
	cfg.Addr = mp.SMTPAddr // no CAFile: system roots do not know the test CA
	s := newTestSender(t, cfg)
	to := uniqueAddress("untrusted")
	_, err := s.Send(context.Background(), orderMessage(t, to))
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("send to an untrusted relay: err = %v, want transient", err)
	}
	if msgs, err := mp.Messages(context.Background(), to); err != nil || len(msgs) != 0 {
		t.Errorf("mailpit has %d messages (err %v), want none", len(msgs), err)
	}
}

// SMTP 4xx replies are transient, 5xx permanent.
func TestSendMailpitClassifiesReplies(t *testing.T) {
	mp := testenv.NewMailpit(t)
	cfg := baseConfig()
	cfg.Addr, cfg.CAFile = mp.SMTPAddr, mp.CAFile
	s := newTestSender(t, cfg)
	ctx := context.Background()
	for _, tc := range []struct {
		code      int
		permanent bool
	}{{451, false}, {421, false}, {550, true}, {553, true}} {
		if err := mp.SetChaos(ctx, testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: tc.code, Probability: 100}}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Send(ctx, orderMessage(t, uniqueAddress("chaos")))
		var ce *channel.Error
		if !errors.As(err, &ce) {
			t.Fatalf("RCPT %d: err = %v, want a *channel.Error", tc.code, err)
		}
		if ce.Permanent != tc.permanent || !strings.Contains(err.Error(), fmt.Sprint(tc.code)) {
			t.Errorf("RCPT %d: permanent = %v, want %v (%v)", tc.code, ce.Permanent, tc.permanent, err)
		}
	}
	if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, orderMessage(t, uniqueAddress("ok"))); err != nil {
		t.Errorf("send after chaos off: %v", err)
	}
}
