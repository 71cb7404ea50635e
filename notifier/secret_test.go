package notifier

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/webhook"
	"github.com/heraldhq/herald/subgraphs/users"
)

var (
	testNotifierKey = key(1)
	testOtherKey    = key(2)
	testUsersKey    = key(3)
)

// key is a valid HERALD_*_SECRET_KEY value: 32 bytes of b.
func key(b byte) string {
	raw := make([]byte, secretbox.KeySize)
	for i := range raw {
		raw[i] = b
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func mustSecretBox(t testing.TB, key string) *secretbox.Box {
	t.Helper()
	b, err := NewSecretBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hookReceiver is a webhook receiver that verifies every request's
// signature with its current secret, as a real receiver must; it answers
// 401 to a bad signature and 503 to the first `fail` good ones.
type hookReceiver struct {
	URL string

	mu       sync.Mutex
	secret   string
	fail     int
	verified []string // Herald-Delivery-Id of each request whose signature verified
	refused  []string // why a request did not verify
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err == nil {
			err = webhook.Verify(h.secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute)
		}
		if err != nil {
			h.refused = append(h.refused, err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		h.verified = append(h.verified, r.Header.Get(webhook.HeaderDeliveryID))
		if h.fail > 0 {
			h.fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hook"
	return h
}

func (h *hookReceiver) set(secret string, fail int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secret, h.fail = secret, fail
}

func (h *hookReceiver) requests() (verified, refused []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.verified...), append([]string(nil), h.refused...)
}

// verifiedTimes requires that the receiver verified delivery id's
// signature n times and refused no request.
func (h *hookReceiver) verifiedTimes(t *testing.T, id uuid.UUID, n int) {
	t.Helper()
	verified, refused := h.requests()
	if got := countOf(verified, id.String()); got != n || len(refused) != 0 {
		t.Fatalf("receiver verified delivery %s %d times (want %d), refused %v", id, got, n, refused)
	}
}

// setWebhook points the user's webhook at url (or rotates its secret) and
// returns the signing secret the users service shows once.
func (u *usersService) setWebhook(t *testing.T, id string, in map[string]any) string {
	t.Helper()
	var out struct {
		UpdateUser struct{ WebhookSigningSecret *string }
	}
	u.do(t, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { webhookSigningSecret } }`,
		map[string]any{"id": id, "in": map[string]any{"webhook": in}}, &out)
	if out.UpdateUser.WebhookSigningSecret == nil || *out.UpdateUser.WebhookSigningSecret == "" {
		t.Fatal("updateUser showed no webhook signing secret")
	}
	return *out.UpdateUser.WebhookSigningSecret
}

func TestWebhookSecretSealed(t *testing.T) {
	eachDB(t, func(t *testing.T, driver, dsn string) {
		client, d := openDB(t, driver, dsn)
		testWebhookSecretSealed(t, client, d.Dialect)
	})
}

// The webhook signing secret on a delivery row is sealed with
// HERALD_NOTIFIER_SECRET_KEY at consume time and opened only to send: the
// stored value is not the secret, a wrong or missing key retries with a
// clear reason and sends nothing, a corrupt value fails, rows from before
// sealing (bare secret) still send, a policy re-check stores the user's
// new secret sealed, and a final delivery keeps no secret. The receiver
// verifies every request's signature.
func testWebhookSecretSealed(t *testing.T, client *entnotifier.Client, dialectName string) {
	ctx := context.Background()
	us := startUsersWith(t, func(c *users.Config) {
		c.AllowLoopbackWebhooks = true
		c.SecretKey = testUsersKey // the users service seals its own copy with its own key
	})
	box := mustSecretBox(t, testNotifierKey)
	sender, err := webhook.New(webhook.Config{Timeout: 5 * time.Second, AllowLoopbackHTTP: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now().UTC()
	worker := func(secrets *secretbox.Box) *Worker {
		return &Worker{DB: client, Dialect: dialectName, Senders: map[string]channel.Sender{webhook.Name: sender},
			Status: statusEvents{Topic: "NotificationStatus", Source: StatusSource}, Logger: testLogger(t),
			Backoff: Backoff{Base: time.Minute, Max: time.Minute}, MaxAttempts: 100, MaxAge: 24 * time.Hour,
			Lease: 5 * time.Minute, Now: func() time.Time { return clock },
			Users:   NewBreakerDirectory(NewUsersClient(us.URL, &http.Client{Timeout: 5 * time.Second}), BreakerSettings{Failures: 5, OpenFor: time.Second}),
			Secrets: secrets}
	}
	// runOnce moves the clock past every retry delay and runs w once.
	runOnce := func(t *testing.T, w *Worker) {
		t.Helper()
		clock = clock.Add(time.Hour)
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// sends runs w once and requires the row SENT without its secret (a
	// final delivery keeps none).
	sends := func(t *testing.T, w *Worker, id uuid.UUID, what string) {
		t.Helper()
		runOnce(t, w)
		if got := reload(t, client, id); got.Status != delivery.StatusSENT || got.Secret != "" {
			t.Fatalf("%s: status %s (%q), secret %q; want SENT and no secret", what, got.Status, got.LastError, got.Secret)
		}
	}
	insert := func(t *testing.T, uid, url, secret string, status delivery.Status) *entnotifier.Delivery {
		t.Helper()
		now := time.Now().UTC()
		d, err := client.Delivery.Create().SetEventID(uuid.NewString()).SetEventType(events.TypeOrderCreated).
			SetOrderID("ord-hook").SetUserID(uid).SetChannel(webhook.Name).SetCategory(CategoryOrderUpdates).
			SetRecipient(url).SetSecret(secret).SetPayload([]byte(`{"orderId":"ord-hook"}`)).
			SetStatus(status).SetPublicStatus(delivery.PublicStatus(status)).SetStatusAt(now.Add(-time.Hour)).
			SetNextAttemptAt(now).SetCreatedAt(now.Add(-time.Hour)).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	uid := us.register(t, "Hook", uniqueAddress("hook"), "", false, false)
	hook := newHookReceiver(t, "")
	secret := us.setWebhook(t, uid, map[string]any{"url": hook.URL})
	hook.set(secret, 0)

	t.Run("consumed: sealed, wrong key retries, right key sends, secret cleared", func(t *testing.T) {
		c := &Consumer{
			DB: client, Users: NewUsersClient(us.URL, &http.Client{Timeout: 10 * time.Second}),
			DLQ: &recordingPublisher{}, Logger: testLogger(t),
			Status:    statusEvents{Topic: "NotificationStatus", Source: StatusSource},
			Available: map[string]bool{webhook.Name: true}, Secrets: box,
		}
		m := orderMessage(t, "OrderCreated", uid, "ord-sealed")
		if err := c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		rows, err := client.Delivery.Query().Where(delivery.EventID(m.Header(events.HeaderID))).All(ctx)
		if err != nil || len(rows) != 1 || rows[0].Channel != webhook.Name || rows[0].Status != delivery.StatusPENDING {
			t.Fatalf("deliveries %v, %v; want one PENDING webhook", rows, err)
		}
		row := rows[0]
		if !strings.HasPrefix(row.Secret, secretbox.SealedPrefix) || strings.Contains(row.Secret, secret) {
			t.Fatalf("stored secret %q is not sealed", row.Secret)
		}
		if got, err := box.Open(row.ID.String(), row.Secret); err != nil || got != secret {
			t.Fatalf("stored secret opens to %q, %v; want the user's secret", got, err)
		}
		if _, err := box.Open(uuid.NewString(), row.Secret); !errors.Is(err, secretbox.ErrDecrypt) {
			t.Fatalf("stored secret opened for another delivery id: %v", err)
		}

		// A first attempt opens what the consumer sealed; under another key
		// nothing is sent and the delivery retries with the reason.
		runOnce(t, worker(mustSecretBox(t, testOtherKey)))
		got := reload(t, client, row.ID)
		if want := "webhook secret: cannot decrypt (wrong HERALD_NOTIFIER_SECRET_KEY?)"; got.Status != delivery.StatusRETRYING || got.LastError != want {
			t.Fatalf("wrong key: status %s, reason %q; want RETRYING, %q", got.Status, got.LastError, want)
		}
		if got.Secret != row.Secret {
			t.Fatalf("wrong key: stored secret changed to %q", got.Secret)
		}
		if verified, refused := hook.requests(); len(verified)+len(refused) != 0 {
			t.Fatalf("wrong key: the receiver got %d signed and %d unverifiable requests, want none", len(verified), len(refused))
		}

		sends(t, worker(box), row.ID, "with the right key")
		verified, refused := hook.requests()
		if len(verified) != 1 || verified[0] != row.ID.String() || len(refused) != 0 {
			t.Fatalf("receiver verified %v, refused %v; want exactly delivery %s", verified, refused, row.ID)
		}
	})

	// With no key the sealed value cannot be read: the first attempt retries
	// and sends nothing; the retry's policy re-check then takes the user's
	// current secret (stored plain, as configured) and sends it signed.
	t.Run("no key: retries, then the re-check's secret sends", func(t *testing.T) {
		row := insert(t, uid, hook.URL, "", delivery.StatusPENDING)
		sealed, err := box.Seal(row.ID.String(), secret)
		if err != nil {
			t.Fatal(err)
		}
		client.Delivery.UpdateOneID(row.ID).SetSecret(sealed).ExecX(ctx)
		before, _ := hook.requests()
		noKey := mustSecretBox(t, "")
		runOnce(t, worker(noKey))
		got := reload(t, client, row.ID)
		if want := "webhook secret is encrypted but HERALD_NOTIFIER_SECRET_KEY is not set"; got.Status != delivery.StatusRETRYING || got.LastError != want {
			t.Fatalf("status %s, reason %q; want RETRYING, %q", got.Status, got.LastError, want)
		}
		if verified, refused := hook.requests(); len(verified) != len(before) || len(refused) != 0 {
			t.Fatalf("the receiver got requests on the failed attempt: %v %v", verified, refused)
		}
		sends(t, worker(noKey), row.ID, "retry")
		hook.verifiedTimes(t, row.ID, 1)
	})

	t.Run("legacy bare secret still sends", func(t *testing.T) {
		const legacy = "whsec_stored_before_sealing"
		h := newHookReceiver(t, legacy)
		row := insert(t, uid, h.URL, legacy, delivery.StatusPENDING)
		sends(t, worker(box), row.ID, "legacy secret")
		if verified, refused := h.requests(); len(verified) != 1 || len(refused) != 0 {
			t.Fatalf("receiver verified %v, refused %v", verified, refused)
		}
	})

	t.Run("corrupt sealed value fails without sending", func(t *testing.T) {
		h := newHookReceiver(t, secret)
		row := insert(t, uid, h.URL, "v1:not base64!", delivery.StatusPENDING)
		runOnce(t, worker(box))
		got := reload(t, client, row.ID)
		if got.Status != delivery.StatusFAILED || got.LastError != "webhook secret: stored value is corrupt" || got.Secret != "" {
			t.Fatalf("status %s, reason %q, secret %q; want FAILED, corrupt, no secret", got.Status, got.LastError, got.Secret)
		}
		if verified, refused := h.requests(); len(verified)+len(refused) != 0 {
			t.Fatalf("receiver got requests: %v %v", verified, refused)
		}
	})

	t.Run("re-check stores the rotated secret sealed", func(t *testing.T) {
		row := insert(t, uid, hook.URL, secret, delivery.StatusDEFERRED) // a legacy row: bare secret
		rotated := us.setWebhook(t, uid, map[string]any{"rotateSecret": true})
		if rotated == secret {
			t.Fatal("rotation kept the secret")
		}
		hook.set(rotated, 1) // verifies with the new secret only; answers 503 once
		runOnce(t, worker(box))
		got := reload(t, client, row.ID)
		if got.Status != delivery.StatusRETRYING {
			t.Fatalf("status %s (%q), want RETRYING after the 503", got.Status, got.LastError)
		}
		if !strings.HasPrefix(got.Secret, secretbox.SealedPrefix) || strings.Contains(got.Secret, rotated) {
			t.Fatalf("re-checked secret stored as %q, want it sealed", got.Secret)
		}
		if s, err := box.Open(row.ID.String(), got.Secret); err != nil || s != rotated {
			t.Fatalf("re-checked secret opens to %q, %v; want the rotated one", s, err)
		}
		sends(t, worker(box), row.ID, "after the re-check")
		hook.verifiedTimes(t, row.ID, 2) // the 503 and the success
	})

	// A retry waits out its backoff; a user who rotates the secret meanwhile
	// has a receiver that refuses the old signature (401, permanent). The
	// retry re-checks the policy and signs with the new secret.
	t.Run("retry after a rotation signs with the new secret", func(t *testing.T) {
		current := us.setWebhook(t, uid, map[string]any{"rotateSecret": true})
		row := insert(t, uid, hook.URL, current, delivery.StatusRETRYING)
		rotated := us.setWebhook(t, uid, map[string]any{"rotateSecret": true})
		hook.set(rotated, 0)
		before, _ := hook.requests()
		runOnce(t, worker(box))
		got := reload(t, client, row.ID)
		if got.Status != delivery.StatusSENT {
			t.Fatalf("status %s (%q), want SENT with the rotated secret", got.Status, got.LastError)
		}
		hook.verifiedTimes(t, row.ID, 1)
		if verified, _ := hook.requests(); len(verified) != len(before)+1 {
			t.Fatalf("receiver verified %d requests, want %d: only this delivery's", len(verified), len(before)+1)
		}
	})

	t.Run("retry for a user deleted meanwhile is skipped", func(t *testing.T) {
		gone := us.register(t, "Gone", uniqueAddress("gone"), "", false, false)
		h := newHookReceiver(t, "")
		gs := us.setWebhook(t, gone, map[string]any{"url": h.URL})
		h.set(gs, 0)
		row := insert(t, gone, h.URL, gs, delivery.StatusRETRYING)
		us.delete(t, gone)
		runOnce(t, worker(box))
		got := reload(t, client, row.ID)
		if got.Status != delivery.StatusSKIPPED || got.LastError != ReasonUserDeleted || got.Secret != "" {
			t.Fatalf("status %s, reason %q, secret %q; want SKIPPED, %q, no secret", got.Status, got.LastError, got.Secret, ReasonUserDeleted)
		}
		if verified, refused := h.requests(); len(verified)+len(refused) != 0 {
			t.Fatalf("receiver got requests for a deleted user: %v %v", verified, refused)
		}
	})

	// A shutdown that begins while a send is in flight lets it finish and
	// records it: cut off, the receiver would have the request but the row
	// would be sent again once its lease expired.
	t.Run("shutdown during a send: finished and recorded once", func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				close(arrived)
			}
			<-release
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		row := insert(t, uid, srv.URL+"/hook", "whsec_in_flight", delivery.StatusPENDING)
		clock = clock.Add(time.Hour)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := worker(box).RunOnce(wctx)
			done <- err
		}()
		select {
		case <-arrived:
		case <-time.After(60 * time.Second):
			t.Fatal("the webhook request never arrived")
		}
		stop() // SIGTERM while the receiver holds the request
		close(release)
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if got := reload(t, client, row.ID); got.Status != delivery.StatusSENT {
			t.Fatalf("status %s (%q), want SENT: the send was cut by the shutdown", got.Status, got.LastError)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("receiver got %d requests, want 1", n)
		}
	})

	t.Run("consumed SKIPPED row keeps no secret", func(t *testing.T) {
		c := &Consumer{
			DB: client, Users: NewUsersClient(us.URL, &http.Client{Timeout: 10 * time.Second}),
			DLQ: &recordingPublisher{}, Logger: testLogger(t),
			Status:    statusEvents{Topic: "NotificationStatus", Source: StatusSource},
			Available: map[string]bool{}, Secrets: box, // webhook not configured: SKIPPED
		}
		m := orderMessage(t, "OrderCreated", uid, "ord-skipped")
		if err := c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		rows, err := client.Delivery.Query().Where(delivery.EventID(m.Header(events.HeaderID))).All(ctx)
		if err != nil || len(rows) != 1 || rows[0].Status != delivery.StatusSKIPPED || rows[0].Secret != "" {
			t.Fatalf("deliveries %v, %v; want one SKIPPED webhook without a secret", rows, err)
		}
	})
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// HERALD_NOTIFIER_SECRET_KEY: empty is accepted (unencrypted, with a
// start-up warning), a valid key is taken, anything else is a config error
// naming the variable.
func TestSecretKeyConfig(t *testing.T) {
	tests := []struct {
		value   string
		wantErr bool
	}{
		{"", false},
		{testNotifierKey, false},
		{"short", true},
		{base64.StdEncoding.EncodeToString(make([]byte, 16)), true},
	}
	for _, tt := range tests {
		v := config.New(func(name string) string {
			if name == SecretKeyVar {
				return tt.value
			}
			return ""
		})
		c := LoadConfig(v)
		err := v.Err()
		if tt.wantErr != (err != nil && strings.Contains(err.Error(), SecretKeyVar)) {
			t.Errorf("%s=%q: config error %v, want error=%v", SecretKeyVar, tt.value, err, tt.wantErr)
		}
		if !tt.wantErr && c.SecretKey != tt.value {
			t.Errorf("SecretKey = %q, want %q", c.SecretKey, tt.value)
		}
	}
}
