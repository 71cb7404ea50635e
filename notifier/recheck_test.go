package notifier

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/email"
)

// A delivery deferred for quiet hours asks the users service again when it
// becomes due, through the breaker-guarded directory: a deleted user gets
// nothing (SKIPPED "user deleted"), a user who switched the channel off
// gets nothing either, a user who changed address is written to at the new
// one, and while the users service cannot answer the delivery stays
// DEFERRED (nothing sent, nothing published, no attempt counted) until it
// can.
func TestDeferredDeliveryRechecksPolicy(t *testing.T) {
	mp := testenv.Mailpit(t)
	users := startUsers(t)
	client, d := openSQLite(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	// A users URL nobody listens on: connection refused, like a users
	// service that is down.
	downURL := "http://" + refusedAddr(t) + "/graphql"

	worker := func(usersURL string) *Worker {
		return &Worker{DB: client, Dialect: d.Dialect, Senders: map[string]channel.Sender{email.Name: mailpitSender(t, mp)},
			Status: statusEvents{Topic: "NotificationStatus", Source: StatusSource}, Logger: testLogger(t),
			Backoff: Backoff{Base: time.Minute, Max: time.Hour}, MaxAttempts: 3, MaxAge: 24 * time.Hour,
			Lease: 5 * time.Minute, Now: func() time.Time { return now },
			Users: NewBreakerDirectory(NewUsersClient(usersURL, &http.Client{Timeout: 5 * time.Second}), BreakerSettings{Failures: 5, OpenFor: time.Second})}
	}
	deferred := func(uid, to string) *entnotifier.Delivery {
		t.Helper()
		r, err := client.Delivery.Create().SetEventID("ev-" + to).SetOrderID("ord-quiet").SetUserID(uid).
			SetChannel(email.Name).SetCategory(CategoryOrderUpdates).SetRecipient(to).
			SetSubject("Order ord-quiet confirmed").SetBody("order ord-quiet").
			SetStatus(delivery.StatusDEFERRED).SetPublicStatus(delivery.PublicStatusDEFERRED).SetStatusAt(now.Add(-8 * time.Hour)).
			SetNextAttemptAt(now).SetCreatedAt(now.Add(-8 * time.Hour)).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	goneMail := uniqueAddress("gone")
	gone := users.register(t, "Gone", goneMail, "", true, false)
	offMail := uniqueAddress("off")
	off := users.register(t, "Off", offMail, "", true, false)
	oldMail, newMail := uniqueAddress("old"), uniqueAddress("new")
	moved := users.register(t, "Moved", oldMail, "", true, false)
	keptMail := uniqueAddress("kept")
	kept := users.register(t, "Kept", keptMail, "", true, false)

	dGone, dOff, dMoved, dKept := deferred(gone, goneMail), deferred(off, offMail), deferred(moved, oldMail), deferred(kept, keptMail)
	users.delete(t, gone)
	users.update(t, off, map[string]any{"preferences": map[string]any{"email": false}})
	users.update(t, moved, map[string]any{"email": newMail})

	// 1. The users service is down: every row stays DEFERRED, unsent and
	// unpublished, with no attempt counted, and is due again later.
	w := worker(downURL)
	if n, err := w.RunOnce(ctx); err != nil || n != 4 {
		t.Fatalf("RunOnce with the users service down = %d, %v; want 4 claimed", n, err)
	}
	for _, r := range []*entnotifier.Delivery{dGone, dOff, dMoved, dKept} {
		got := reload(t, client, r.ID)
		if got.Status != delivery.StatusDEFERRED || got.PublicStatus != delivery.PublicStatusDEFERRED || got.Attempts != 0 ||
			!got.NextAttemptAt.After(now) || got.LastError == "" {
			t.Errorf("%s with the users service down: status %s/%s attempts %d next %s error %q",
				r.Recipient, got.Status, got.PublicStatus, got.Attempts, got.NextAttemptAt, got.LastError)
		}
		if h := historyOf(t, client, r); len(h) != 0 {
			t.Errorf("%s: published %v while the users service was down, want nothing", r.Recipient, h)
		}
	}
	if n, err := w.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce before the held rows are due = %d, %v; want 0", n, err)
	}

	// 2. The users service answers: each row follows the user's current
	// policy.
	now = now.Add(2 * time.Hour)
	w = worker(users.URL)
	if n, err := w.RunOnce(ctx); err != nil || n != 4 {
		t.Fatalf("RunOnce = %d, %v; want 4 claimed", n, err)
	}
	checks := []struct {
		row     *entnotifier.Delivery
		status  delivery.Status
		history []string
	}{
		{dGone, delivery.StatusSKIPPED, []string{"DEFERRED>SKIPPED#0 " + ReasonUserDeleted}},
		{dOff, delivery.StatusSKIPPED, []string{"DEFERRED>SKIPPED#0 " + ReasonChannelOff}},
		{dMoved, delivery.StatusSENT, []string{"DEFERRED>SENT#1"}},
		{dKept, delivery.StatusSENT, []string{"DEFERRED>SENT#1"}},
	}
	for _, c := range checks {
		got := reload(t, client, c.row.ID)
		if got.Status != c.status {
			t.Errorf("%s: status %s, want %s (%q)", c.row.Recipient, got.Status, c.status, got.LastError)
		}
		if h := historyOf(t, client, c.row); !slices.Equal(h, c.history) {
			t.Errorf("%s: history %q, want %q", c.row.Recipient, h, c.history)
		}
	}
	if r := reload(t, client, dMoved.ID); r.Recipient != newMail {
		t.Errorf("moved user's delivery recipient = %s, want the new address", r.Recipient)
	}
	if msgs := waitMail(t, mp, newMail, 1); len(msgs) != 1 {
		t.Errorf("%d mails to the new address, want 1", len(msgs))
	}
	if msgs := waitMail(t, mp, keptMail, 1); len(msgs) != 1 {
		t.Errorf("%d mails to the unchanged user, want 1", len(msgs))
	}
	// Nothing went to the deleted user, the switched-off one or the old
	// address (checked after the sent ones arrived).
	for _, to := range []string{goneMail, offMail, oldMail} {
		if msgs, err := mp.Messages(ctx, to); err != nil || len(msgs) != 0 {
			t.Errorf("%d mails to %s (err %v), want none", len(msgs), to, err)
		}
	}
}
