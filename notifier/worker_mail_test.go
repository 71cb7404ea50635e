package notifier

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/outboxevent"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
)

// The worker against a real relay: a 4xx schedules a retry with backoff, a
// 5xx fails the delivery, an accepted message is SENT with its Message-ID,
// and nothing is sent twice.
func TestWorkerOutcomesMailpit(t *testing.T) {
	mp := testenv.NewMailpit(t)
	client, d := openSQLite(t)
	sender := mailpitSender(t, mp)
	now := time.Now().UTC()
	// No jitter here, so the schedule can be checked exactly (the jittered
	// schedule is tested in TestBackoffJitter).
	w := &Worker{DB: client, Dialect: d.Dialect, Senders: map[string]channel.Sender{email.Name: sender},
		Status: statusEvents{Topic: "NotificationStatus", Source: StatusSource}, Logger: testLogger(t),
		Backoff: Backoff{Base: time.Minute, Max: time.Hour}, MaxAttempts: 12, MaxAge: 24 * time.Hour,
		Lease: 5 * time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()

	add := func(to string) {
		_, err := client.Delivery.Create().SetEventID(to).SetOrderID("ord-w").SetUserID("u").
			SetChannel(email.Name).SetRecipient(to).SetSubject("Order ord-w confirmed").
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
	// Every public transition is in the history and the outbox, in order:
	// RETRYING (attempt 1, next in 1m), RETRYING (attempt 2, next in 2m), SENT.
	hist, err := StatusHistory(ctx, client, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, fmt.Sprintf("%s>%s#%d", h.FromStatus, h.Status, h.Attempt))
		if n, err := client.OutboxEvent.Query().Where(outboxevent.ID(h.ID.String())).Count(ctx); err != nil || n != 1 {
			t.Errorf("status %s has %d outbox rows (err %v), want 1", h.Status, n, err)
		}
	}
	if want := []string{"PENDING>RETRYING#1", "RETRYING>RETRYING#2", "RETRYING>SENT#3"}; !slices.Equal(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	if len(hist) == 3 && (hist[0].NextAttemptAt == nil || hist[0].Reason == "" || hist[2].NextAttemptAt != nil) {
		t.Errorf("RETRYING must carry next attempt and reason, SENT neither: %+v", hist)
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

// Limits and deferral against a real relay: a delivery that keeps failing
// is FAILED after MaxAttempts, one whose next retry would pass MaxAge is
// FAILED at once, and a DEFERRED delivery waits for its time and is then
// sent (DEFERRED → SENT).
func TestWorkerLimitsAndDeferralMailpit(t *testing.T) {
	mp := testenv.NewMailpit(t)
	client, d := openSQLite(t)
	sender := mailpitSender(t, mp)
	now := time.Now().UTC().Truncate(time.Second)
	w := &Worker{DB: client, Dialect: d.Dialect, Senders: map[string]channel.Sender{email.Name: sender},
		Status: statusEvents{Topic: "NotificationStatus", Source: StatusSource}, Logger: testLogger(t),
		Backoff: Backoff{Base: time.Minute, Max: time.Hour}, MaxAttempts: 2, MaxAge: time.Hour,
		Lease: 5 * time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	add := func(to string, status delivery.Status, due, created time.Time) *entnotifier.Delivery {
		r, err := client.Delivery.Create().SetEventID(to).SetOrderID("ord-l").SetUserID("u").
			SetChannel(email.Name).SetRecipient(to).SetSubject("Order ord-l confirmed").SetBody("order ord-l").
			SetStatus(status).SetPublicStatus(delivery.PublicStatus(status)).SetStatusAt(created).
			SetNextAttemptAt(due).SetCreatedAt(created).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	get := func(r *entnotifier.Delivery) *entnotifier.Delivery {
		got, err := client.Delivery.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := mp.SetChaos(ctx, testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 451, Probability: 100}}); err != nil {
		t.Fatal(err)
	}

	// MaxAttempts: attempt 1 → RETRYING, attempt 2 → FAILED.
	capped := add(uniqueAddress("capped"), delivery.StatusPENDING, now, now)
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if r := get(capped); r.Status != delivery.StatusRETRYING {
		t.Fatalf("after attempt 1: %s", r.Status)
	}
	now = now.Add(time.Minute)
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if r := get(capped); r.Status != delivery.StatusFAILED || r.Attempts != 2 || !strings.Contains(r.LastError, "gave up after 2 attempts") {
		t.Fatalf("after attempt 2: %s %d %q", r.Status, r.Attempts, r.LastError)
	}

	// MaxAge: created 59m30s ago; a retry in 1m would be past the hour.
	old := add(uniqueAddress("old"), delivery.StatusPENDING, now, now.Add(-59*time.Minute-30*time.Second))
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if r := get(old); r.Status != delivery.StatusFAILED || !strings.Contains(r.LastError, "older than 1h") {
		t.Fatalf("old delivery: %s %q", r.Status, r.LastError)
	}

	// DEFERRED until now+2h: not claimed before, sent after.
	if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	to := uniqueAddress("deferred")
	deferred := add(to, delivery.StatusDEFERRED, now.Add(2*time.Hour), now)
	if n, err := w.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce before the window ends = %d, %v; want 0", n, err)
	}
	now = now.Add(2 * time.Hour)
	if n, err := w.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce after the window = %d, %v; want 1", n, err)
	}
	if r := get(deferred); r.Status != delivery.StatusSENT {
		t.Fatalf("deferred delivery: %s %q", r.Status, r.LastError)
	}
	if msgs := waitMail(t, mp, to, 1); len(msgs) != 1 {
		t.Fatalf("%d mails for the deferred delivery", len(msgs))
	}
	hist, err := StatusHistory(ctx, client, deferred.ID)
	if err != nil || len(hist) != 1 || hist[0].FromStatus != "DEFERRED" || hist[0].Status != "SENT" {
		t.Errorf("deferred history = %+v, %v", hist, err)
	}
}
