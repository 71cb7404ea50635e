package notifier

import (
	"context"
	"testing"
	"time"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/testenv"
)

// The worker against a real relay: a 4xx schedules a retry with backoff, a
// 5xx fails the delivery, an accepted message is SENT with its Message-ID,
// and nothing is sent twice.
func TestWorkerOutcomesMailpit(t *testing.T) {
	mp := testenv.NewMailpit(t)
	client, d := openSQLite(t)
	sender, err := NewSMTPSender(SMTPConfig{Addr: mp.SMTPAddr, CAFile: mp.CAFile, From: "Herald <n@herald.local>", Timeout: 10 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	w := &Worker{DB: client, Dialect: d.Dialect, Email: sender, Logger: testLogger(t),
		Backoff: Backoff{Base: time.Minute, Max: time.Hour}, Lease: 5 * time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()

	add := func(to string) {
		_, err := client.Delivery.Create().SetEventID(to).SetOrderID("ord-w").SetUserID("u").
			SetChannel(delivery.ChannelEmail).SetRecipient(to).SetSubject("Order ord-w confirmed").
			SetBody("order ord-w").SetNextAttemptAt(now).SetCreatedAt(now).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	to := uniqueAddress("worker")
	add(to)
	row := func() *entnotifier.Delivery {
		r, err := client.Delivery.Query().Where(delivery.EventID(to)).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// 1. The relay answers 451: retry in Base.
	if err := mp.SetChaos(ctx, testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 451, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	r := row()
	if r.Status != delivery.StatusRETRYING || r.Attempts != 1 || !r.NextAttemptAt.Equal(now.Add(time.Minute)) || r.LastError == "" {
		t.Fatalf("after 451: %+v", r)
	}
	// Not due yet: nothing is claimed.
	if n, err := w.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce before the retry is due = %d, %v", n, err)
	}

	// 2. Still 451 when due: the delay doubles.
	now = now.Add(time.Minute)
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if r = row(); r.Status != delivery.StatusRETRYING || r.Attempts != 2 || !r.NextAttemptAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("after second 451: %+v", r)
	}

	// 3. The relay recovers: SENT, once.
	if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	r = row()
	if r.Status != delivery.StatusSENT || r.Attempts != 3 || r.SentAt == nil || r.MessageID == "" || r.LastError != "" {
		t.Fatalf("after recovery: %+v", r)
	}
	now = now.Add(time.Hour)
	if n, err := w.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce after SENT = %d, %v; want nothing to do", n, err)
	}
	msgs := waitMail(t, mp, to, 1)
	if len(msgs) != 1 || msgs[0].MessageID != r.MessageID {
		t.Fatalf("mailpit has %+v, want one message with id %s", msgs, r.MessageID)
	}

	// 4. A 550 is final.
	to = uniqueAddress("rejected")
	add(to)
	if err := mp.SetChaos(ctx, testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 550, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if r = row(); r.Status != delivery.StatusFAILED || r.Attempts != 1 || r.LastError == "" {
		t.Fatalf("after 550: %+v", r)
	}
	now = now.Add(24 * time.Hour)
	if n, err := w.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce after FAILED = %d, %v; want nothing to do", n, err)
	}
}
