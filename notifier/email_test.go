package notifier

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/testenv"
)

// waitMail polls mailpit until want messages reached to (or the test's
// patience ends) and returns them.
func waitMail(t *testing.T, mp interface {
	Messages(context.Context, string) ([]testenv.MailMessage, error)
}, to string, want int) []testenv.MailMessage {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs, err := mp.Messages(ctx, to)
		if err != nil {
			t.Fatalf("read mailpit: %v", err)
		}
		if len(msgs) >= want || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func uniqueAddress(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8] + "@example.com"
}

func TestSMTPSenderMailpitStartTLS(t *testing.T) {
	mp := testenv.Mailpit(t)
	s, err := NewSMTPSender(SMTPConfig{Addr: mp.SMTPAddr, TLS: TLSStartTLSRequired, CAFile: mp.CAFile,
		From: "Herald <notifications@herald.local>", Timeout: 10 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	to := uniqueAddress("ada")
	msg, err := RenderOrderConfirmation(sampleOrder(), "Ada")
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	msgID, err := s.Send(context.Background(), OutgoingEmail{DeliveryID: id, To: to, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML})
	if err != nil {
		t.Fatal(err)
	}
	if want := id + "@herald.local"; msgID != want {
		t.Errorf("message id = %q, want %q", msgID, want)
	}
	got := waitMail(t, mp, to, 1)
	if len(got) != 1 {
		t.Fatalf("mailpit has %d messages for %s, want 1", len(got), to)
	}
	m := got[0]
	if m.Subject != "Order ord_01HX7 confirmed" || m.MessageID != msgID || !strings.Contains(m.Text, "ord_01HX7") ||
		!strings.Contains(m.HTML, "ord_01HX7") || !strings.Contains(m.Text, "EUR 2,024.99") {
		t.Errorf("received %+v", m)
	}
}

// Without the relay's CA the certificate cannot be verified: the send must
// fail (transiently: the operator can fix the trust store) and nothing may go
// out in clear text.
func TestSMTPSenderVerifiesCertificate(t *testing.T) {
	mp := testenv.Mailpit(t)
	s, err := NewSMTPSender(SMTPConfig{Addr: mp.SMTPAddr, TLS: TLSStartTLSRequired, From: "h@herald.local", Timeout: 10 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	to := uniqueAddress("untrusted")
	_, err = s.Send(context.Background(), OutgoingEmail{DeliveryID: uuid.NewString(), To: to, Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("send succeeded without trusting the relay's certificate")
	}
	if IsPermanent(err) {
		t.Errorf("certificate failure classified as permanent: %v", err)
	}
	if msgs, err := mp.Messages(context.Background(), to); err != nil || len(msgs) != 0 {
		t.Errorf("mailpit has %d messages (err %v), want none", len(msgs), err)
	}
}

// SMTP 4xx replies are retried, 5xx replies are final.
func TestSMTPSenderClassifiesReplies(t *testing.T) {
	mp := testenv.NewMailpit(t)
	s, err := NewSMTPSender(SMTPConfig{Addr: mp.SMTPAddr, CAFile: mp.CAFile, From: "h@herald.local", Timeout: 10 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		code      int
		permanent bool
	}{{451, false}, {550, true}, {452, false}, {553, true}}
	for _, tc := range tests {
		if err := mp.SetChaos(ctx, testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: tc.code, Probability: 100}}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Send(ctx, OutgoingEmail{DeliveryID: uuid.NewString(), To: uniqueAddress("chaos"), Subject: "s", Text: "t"})
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("RCPT %d: err = %v, want a *SendError", tc.code, err)
		}
		if se.Permanent != tc.permanent {
			t.Errorf("RCPT %d: permanent = %v, want %v (%v)", tc.code, se.Permanent, tc.permanent, err)
		}
	}
	if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, OutgoingEmail{DeliveryID: uuid.NewString(), To: uniqueAddress("ok"), Subject: "s", Text: "t"}); err != nil {
		t.Errorf("send after chaos off: %v", err)
	}
}
