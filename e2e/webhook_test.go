package e2e

// The webhook channel end to end: a user sets a webhook URL through the
// router, orders flow through the orders outbox, the broker, the notifier
// and its delivery workers, and a receiver in the test verifies every
// request the way docs/channels.md tells receivers to. Signing secrets are
// sealed at rest on both sides (users and notifier keys set), and the test
// reads both databases to see that they are.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

// webhookWait bounds every wait below: patience on a loaded machine, not a
// speed claim.
const webhookWait = 60 * time.Second

func TestWebhook(t *testing.T) { onEachStream(t, runWebhookScenario) }

func runWebhookScenario(t *testing.T, streamEnv map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	rcv := newHookReceiver()
	srv := httptest.NewServer(rcv) // 127.0.0.1, plain http: loopback is allowed below
	t.Cleanup(srv.Close)

	notifierEnv := fastNotifierEnv(t)
	notifierEnv["HERALD_WEBHOOK_ALLOW_LOOPBACK_HTTP"] = "true"
	notifierEnv["HERALD_NOTIFIER_SECRET_KEY"] = randomKey(t)
	dsn := map[string]string{
		"users":    testenv.Postgres(t),
		"orders":   testenv.Postgres(t),
		"notifier": testenv.Postgres(t),
	}
	stack := startStack(t, ctx, stackOptions{
		Stream:  streamEnv,
		Mailpit: testenv.Mailpit(t),
		DSN:     dsn,
		Env: map[string]map[string]string{
			"users": {
				"HERALD_ALLOW_HTTP_WEBHOOKS_LOOPBACK": "true",
				"HERALD_USERS_SECRET_KEY":             randomKey(t),
			},
			"notifier": notifierEnv,
		},
		// The status subscription below.
		Statuses: true,
	})
	gql := stack.Router
	usersDB := openDB(t, ctx, dsn["users"])
	notifDB := openDB(t, ctx, dsn["notifier"])

	// A user of this test only, with email and SMS off: the webhook is the
	// one channel that delivers.
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	userID := registerUser(t, ctx, gql, "Webhook Wendy", "wendy+"+suffix+"@example.com", false)

	// Watch the user's notification statuses through the router (SSE), as
	// a browser would, from before the first order.
	statuses := subscribeStatuses(t, ctx, gql, userID)

	// Setting the URL returns the signing secret, once.
	hookURL := srv.URL + "/hooks/" + suffix
	secret1 := setWebhook(t, ctx, gql, userID, map[string]any{"url": hookURL}, hookURL)
	rcv.setSecret(secret1)
	requireSealedInUsersDB(t, ctx, usersDB, userID, secret1)

	// The secret is not part of the public API: the router refuses to
	// select it (it is @inaccessible), so only the subgraph's callers see it.
	errs := gql.do(t, ctx, `query($id: ID!){ notificationPolicy(userId: $id, category: ORDER_UPDATES){
		deliveries { channel signingSecret } } }`, map[string]any{"id": userID}, nil)
	if len(errs) == 0 || errs[0].Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("selecting signingSecret through the router: errors %+v, want GRAPHQL_VALIDATION_FAILED", errs)
	}

	// Phase 1: every order produces exactly one verified webhook.
	var orders []string
	for range 3 {
		orders = append(orders, createOrder(t, ctx, gql, userID))
	}
	waitWebhookDeliveries(t, ctx, notifDB, userID, len(orders))
	for _, id := range orders {
		rcv.requireDelivered(t, id, userID, secret1)
	}

	// Phase 2: the receiver answers 503 until released. The notifier keeps
	// retrying (RETRYING), holding the secret sealed on the row meanwhile,
	// and once released the event arrives, exactly once accepted.
	const failures = 3
	rcv.setFailing(true)
	retried := createOrder(t, ctx, gql, userID)
	orders = append(orders, retried)
	rcv.waitRequests(t, ctx, retried, failures)
	row := deliveryOf(t, ctx, notifDB, retried)
	if row.Status == "SENT" || row.Status == "FAILED" || row.Status == "SKIPPED" {
		t.Fatalf("webhook delivery of %s is %s while the receiver answers 503", retried, row.Status)
	}
	requireSealed(t, "notifier deliveries.secret while retrying", row.Secret, secret1)
	rcv.setFailing(false)
	waitWebhookDeliveries(t, ctx, notifDB, userID, len(orders))
	reqs := rcv.requireDelivered(t, retried, userID, secret1)
	if len(reqs) < failures+1 {
		t.Fatalf("order %s: %d webhook requests, want at least %d (503s then success)", retried, len(reqs), failures+1)
	}
	for i, r := range reqs {
		if got := r.Header.Get(webhook.HeaderAttempt); got != strconv.Itoa(i+1) {
			t.Errorf("order %s request %d: %s = %q, want %d", retried, i+1, webhook.HeaderAttempt, got, i+1)
		}
	}
	row = deliveryOf(t, ctx, notifDB, retried)
	if row.Attempts != len(reqs) {
		t.Errorf("order %s: delivery attempts = %d, receiver saw %d requests", retried, row.Attempts, len(reqs))
	}
	if row.Secret != "" {
		t.Errorf("order %s: the secret stays on the SENT delivery row (%d bytes), want it erased", retried, len(row.Secret))
	}
	// The subscription showed the retry: RETRYING before SENT.
	seq := statuses.waitFor(t, ctx, retried, "WEBHOOK", "SENT")
	if !containsBefore(seq, "RETRYING", "SENT") || seq[len(seq)-1] != "SENT" {
		t.Fatalf("order %s: WEBHOOK statuses through the router %v, want RETRYING … SENT", retried, seq)
	}

	// Phase 3: rotation. The mutation returns a new secret; the next order's
	// webhook verifies with it and not with the old one.
	secret2 := setWebhook(t, ctx, gql, userID, map[string]any{"rotateSecret": true}, hookURL)
	if secret2 == secret1 {
		t.Fatal("rotateSecret returned the old secret")
	}
	requireSealedInUsersDB(t, ctx, usersDB, userID, secret2)
	rcv.setSecret(secret2)
	rotated := createOrder(t, ctx, gql, userID)
	orders = append(orders, rotated)
	waitWebhookDeliveries(t, ctx, notifDB, userID, len(orders))
	for _, r := range rcv.requireDelivered(t, rotated, userID, secret2) {
		if webhook.Verify(secret1, r.Header.Get(webhook.HeaderSignature), r.Body, r.At, webhook.DefaultTolerance) == nil {
			t.Fatalf("order %s: the webhook after rotation still verifies with the old secret", rotated)
		}
	}

	// Every delivery is final, so nothing more can arrive: the counts are
	// exact. Each order one delivery, one accepted request, nothing else.
	rows := webhookDeliveries(t, ctx, notifDB, userID)
	if len(rows) != len(orders) {
		t.Fatalf("%d webhook deliveries for %d orders: %+v", len(rows), len(orders), rows)
	}
	rcv.requireOnly(t, orders)
	for _, id := range orders {
		if seq := statuses.waitFor(t, ctx, id, "WEBHOOK", "SENT"); seq[len(seq)-1] != "SENT" {
			t.Errorf("order %s: WEBHOOK statuses %v end in %s", id, seq, seq[len(seq)-1])
		}
	}
}

// ---- the receiver ------------------------------------------------------------

// hookRequest is one request as the receiver got it.
type hookRequest struct {
	At       time.Time
	Header   http.Header
	Body     []byte
	Payload  webhookPayload
	Verified bool // with the secret current when it arrived
	Status   int  // what the receiver answered
}

type webhookPayload struct {
	DeliveryID string `json:"deliveryId"`
	EventID    string `json:"eventId"`
	EventType  string `json:"eventType"`
	OrderID    string `json:"orderId"`
	UserID     string `json:"userId"`
	Category   string `json:"category"`
	Data       struct {
		OrderID    string `json:"orderId"`
		UserID     string `json:"userId"`
		TotalMinor int64  `json:"totalMinor"`
		Currency   string `json:"currency"`
	} `json:"data"`
}

// hookReceiver verifies each request with webhook.Verify against the secret
// the test last set, answers 401 to one that does not verify (Herald then
// does not retry), 503 while failing, 204 otherwise, and records all.
type hookReceiver struct {
	mu      sync.Mutex
	secret  string
	failing bool
	reqs    []hookRequest
}

func newHookReceiver() *hookReceiver { return &hookReceiver{} }

func (h *hookReceiver) setSecret(s string) {
	h.mu.Lock()
	h.secret = s
	h.mu.Unlock()
}

func (h *hookReceiver) setFailing(on bool) {
	h.mu.Lock()
	h.failing = on
	h.mu.Unlock()
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := hookRequest{At: now, Header: r.Header.Clone(), Body: body}
	switch {
	case err != nil:
		rec.Status = http.StatusRequestEntityTooLarge
	case r.Method != http.MethodPost:
		rec.Status = http.StatusMethodNotAllowed
	case webhook.Verify(h.secret, r.Header.Get(webhook.HeaderSignature), body, now, webhook.DefaultTolerance) != nil:
		rec.Status = http.StatusUnauthorized
	default:
		rec.Verified = true
		rec.Status = http.StatusNoContent
		if h.failing {
			rec.Status = http.StatusServiceUnavailable
		}
	}
	if rec.Verified {
		_ = json.Unmarshal(body, &rec.Payload)
	}
	h.reqs = append(h.reqs, rec)
	w.WriteHeader(rec.Status)
}

func (h *hookReceiver) all() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// forOrder lists the verified requests naming the order, in arrival order.
func (h *hookReceiver) forOrder(orderID string) []hookRequest {
	var out []hookRequest
	for _, r := range h.all() {
		if r.Verified && r.Payload.OrderID == orderID {
			out = append(out, r)
		}
	}
	return out
}

// waitRequests waits until at least n verified requests for the order came.
func (h *hookReceiver) waitRequests(t *testing.T, ctx context.Context, orderID string, n int) {
	t.Helper()
	deadline := time.Now().Add(webhookWait)
	for len(h.forOrder(orderID)) < n {
		h.requireAllVerified(t)
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%d webhook requests for order %s after %s, want %d", len(h.forOrder(orderID)), orderID, webhookWait, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requireAllVerified fails on any request that did not verify.
func (h *hookReceiver) requireAllVerified(t *testing.T) {
	t.Helper()
	for _, r := range h.all() {
		if !r.Verified {
			t.Fatalf("unverifiable webhook request (answered %d): %s: %s", r.Status, r.Header.Get(webhook.HeaderSignature), tail(r.Body, 512))
		}
	}
}

// requireDelivered checks the order's requests: all verified (also with
// secret, the one the public API showed; the standard-library verifier that
// docs/channels.md prints is held to webhook.Verify by the webhook
// package's TestDocumentedVerifierAgrees), one delivery id throughout,
// exactly one accepted, the body naming the order, its user and total, and
// the headers matching the body. It returns them.
func (h *hookReceiver) requireDelivered(t *testing.T, orderID, userID, secret string) []hookRequest {
	t.Helper()
	h.requireAllVerified(t)
	reqs := h.forOrder(orderID)
	if len(reqs) == 0 {
		t.Fatalf("no webhook for order %s", orderID)
	}
	accepted := 0
	for i, r := range reqs {
		p := r.Payload
		where := fmt.Sprintf("order %s request %d", orderID, i+1)
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), r.Body, r.At, webhook.DefaultTolerance); err != nil {
			t.Fatalf("%s: signature %q does not verify with the secret the API showed: %v", where, r.Header.Get(webhook.HeaderSignature), err)
		}
		if r.Status/100 == 2 {
			accepted++
		}
		if p.DeliveryID == "" || p.DeliveryID != reqs[0].Payload.DeliveryID {
			t.Fatalf("%s: delivery id %q, first request had %q", where, p.DeliveryID, reqs[0].Payload.DeliveryID)
		}
		if p.EventID == "" || p.EventID != reqs[0].Payload.EventID {
			t.Fatalf("%s: event id %q, first request had %q", where, p.EventID, reqs[0].Payload.EventID)
		}
		if !bytes.Equal(r.Body, reqs[0].Body) {
			t.Fatalf("%s: body differs from the first attempt's:\n%s\n%s", where, r.Body, reqs[0].Body)
		}
		if got := r.Header.Get(webhook.HeaderDeliveryID); got != p.DeliveryID {
			t.Fatalf("%s: %s = %q, body says %q", where, webhook.HeaderDeliveryID, got, p.DeliveryID)
		}
		if got := r.Header.Get(webhook.HeaderEventID); got != p.EventID {
			t.Fatalf("%s: %s = %q, body says %q", where, webhook.HeaderEventID, got, p.EventID)
		}
		if got := r.Header.Get(webhook.HeaderEventType); got != p.EventType || p.EventType != "io.herald.order.created.v1" {
			t.Fatalf("%s: event type header %q, body %q, want io.herald.order.created.v1", where, got, p.EventType)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s: Content-Type %q", where, ct)
		}
		if p.UserID != userID || p.Category != "ORDER_UPDATES" ||
			p.Data.OrderID != orderID || p.Data.UserID != userID || p.Data.TotalMinor != 2100 || p.Data.Currency != "EUR" {
			t.Fatalf("%s: body %s, want order %s of user %s, ORDER_UPDATES, EUR 2100", where, r.Body, orderID, userID)
		}
	}
	if accepted != 1 || reqs[len(reqs)-1].Status/100 != 2 {
		t.Fatalf("order %s: %d accepted webhook requests (statuses %v), want exactly one, the last", orderID, accepted, statusesOf(reqs))
	}
	return reqs
}

// requireOnly checks that every request the receiver ever got verified and
// named one of orders, and that each order has one delivery id.
func (h *hookReceiver) requireOnly(t *testing.T, orders []string) {
	t.Helper()
	h.requireAllVerified(t)
	known := map[string]bool{}
	for _, id := range orders {
		known[id] = true
	}
	deliveries := map[string]string{} // delivery id → order
	for _, r := range h.all() {
		if !known[r.Payload.OrderID] {
			t.Fatalf("webhook for an unexpected order: %s", r.Body)
		}
		if o, ok := deliveries[r.Payload.DeliveryID]; ok && o != r.Payload.OrderID {
			t.Fatalf("delivery %s names orders %s and %s", r.Payload.DeliveryID, o, r.Payload.OrderID)
		}
		deliveries[r.Payload.DeliveryID] = r.Payload.OrderID
	}
	if len(deliveries) != len(orders) {
		t.Fatalf("%d distinct delivery ids for %d orders", len(deliveries), len(orders))
	}
}

func statusesOf(reqs []hookRequest) []int {
	var out []int
	for _, r := range reqs {
		out = append(out, r.Status)
	}
	return out
}

// ---- the public API ------------------------------------------------------------

// setWebhook runs updateUser with the webhook input, checks the channel is
// on and points at wantURL, and returns the signing secret the response
// shows (which must be there: the input sets a URL or rotates).
func setWebhook(t *testing.T, ctx context.Context, c *client, userID string, in map[string]any, wantURL string) string {
	t.Helper()
	var r struct {
		UpdateUser struct {
			User struct {
				Preferences struct {
					Webhook  bool `json:"webhook"`
					Channels []struct {
						Channel string  `json:"channel"`
						Address *string `json:"address"`
						Usable  bool    `json:"usable"`
					} `json:"channels"`
				} `json:"preferences"`
			} `json:"user"`
			WebhookSigningSecret *string `json:"webhookSigningSecret"`
		} `json:"updateUser"`
	}
	// As the user: the signing secret is shown to its owner only.
	c.as(userID).mustDo(t, ctx, `mutation($id: ID!, $in: UpdateUserInput!){ updateUser(id: $id, input: $in){
		user { preferences { webhook channels { channel address usable } } } webhookSigningSecret } }`,
		map[string]any{"id": userID, "in": map[string]any{"webhook": in}}, &r)
	u := r.UpdateUser
	if !u.User.Preferences.Webhook {
		t.Fatalf("updateUser(webhook: %v): webhook switch is off", in)
	}
	found := false
	for _, ch := range u.User.Preferences.Channels {
		if ch.Channel == "WEBHOOK" {
			found = true
			if !ch.Usable || ch.Address == nil || *ch.Address != wantURL {
				t.Fatalf("updateUser(webhook: %v): WEBHOOK channel usable=%v address=%v, want usable at %s", in, ch.Usable, ch.Address, wantURL)
			}
		}
	}
	if !found {
		t.Fatalf("updateUser(webhook: %v): no WEBHOOK channel in preferences", in)
	}
	if u.WebhookSigningSecret == nil || !strings.HasPrefix(*u.WebhookSigningSecret, "whsec_") {
		t.Fatalf("updateUser(webhook: %v): webhookSigningSecret = %v, want whsec_…", in, u.WebhookSigningSecret)
	}
	return *u.WebhookSigningSecret
}

// statusFeed is a notificationStatus subscription over SSE through the
// router; it keeps every event.
type statusFeed struct {
	mu     sync.Mutex
	events []statusEvent
	err    error // why the stream ended, when it did
}

type statusEvent struct {
	NotificationID string `json:"notificationId"`
	EventID        string `json:"eventId"`
	Event          string `json:"event"` // ORDER_CREATED, ORDER_CANCELLED
	OrderID        string `json:"orderId"`
	Channel        string `json:"channel"`
	Status         string `json:"status"`
	Attempt        int    `json:"attempt"`
	Reason         string `json:"reason"`
}

func subscribeStatuses(t *testing.T, ctx context.Context, c *client, userID string) *statusFeed {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query": `subscription($u: ID){ notificationStatus(userId: $u){
			notificationId eventId event orderId channel status attempt reason } }`,
		"variables": map[string]any{"u": userID},
	})
	sctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(sctx, http.MethodPost, c.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.as(userID).Token) // a user watches their own notifications
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe over SSE: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		cancel()
		t.Fatalf("subscribe over SSE: HTTP %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	f := &statusFeed{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event == "next" {
					f.add(data)
				} else if event == "complete" {
					f.fail(fmt.Errorf("stream completed"))
					return
				}
				event, data = "", ""
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			}
		}
		f.fail(fmt.Errorf("stream ended: %v", sc.Err()))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return f
}

func (f *statusFeed) add(data string) {
	var msg struct {
		Data struct {
			NotificationStatus statusEvent `json:"notificationStatus"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := json.Unmarshal([]byte(data), &msg); err != nil {
		f.err = fmt.Errorf("decode %s: %w", data, err)
		return
	}
	if len(msg.Errors) > 0 {
		f.err = fmt.Errorf("subscription errors: %+v", msg.Errors)
		return
	}
	f.events = append(f.events, msg.Data.NotificationStatus)
}

func (f *statusFeed) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// waitFor waits until the feed has shown status for the order's delivery on
// channel, and returns the statuses seen for it so far, in order. It fails
// when the subscription carried events of more than one notification for
// that order and channel.
func (f *statusFeed) waitFor(t *testing.T, ctx context.Context, orderID, channel, status string) []string {
	t.Helper()
	return f.waitForEvent(t, ctx, orderID, channel, "", status)
}

// waitForEvent is waitFor for the notification about one event of the order
// (event: ORDER_CREATED, ORDER_CANCELLED; "" is any).
func (f *statusFeed) waitForEvent(t *testing.T, ctx context.Context, orderID, channel, event, status string) []string {
	t.Helper()
	deadline := time.Now().Add(webhookWait)
	for {
		f.mu.Lock()
		var seq []string
		ids := map[string]bool{}
		for _, e := range f.events {
			if e.OrderID == orderID && e.Channel == channel && (event == "" || e.Event == event) {
				seq = append(seq, e.Status)
				ids[e.NotificationID] = true
			}
		}
		err := f.err
		f.mu.Unlock()
		if len(ids) > 1 {
			t.Fatalf("order %s: status events of %d %s notifications (event %q), want 1", orderID, len(ids), channel, event)
		}
		for _, s := range seq {
			if s == status {
				return seq
			}
		}
		if err != nil {
			t.Fatalf("status subscription: %v (order %s %s statuses so far %v)", err, orderID, channel, seq)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("order %s: %s statuses %v through the router after %s, want %s", orderID, channel, seq, webhookWait, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containsBefore reports whether a occurs in seq before some b.
func containsBefore(seq []string, a, b string) bool {
	seenA := false
	for _, s := range seq {
		if s == a {
			seenA = true
		}
		if s == b && seenA {
			return true
		}
	}
	return false
}

// ---- the databases -----------------------------------------------------------

func openDB(t *testing.T, ctx context.Context, dsn string) *db.DB {
	t.Helper()
	d, err := db.Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// randomKey is a secret key as the services take it: base64 of 32 bytes.
func randomKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// requireSealed fails unless stored is an AES-GCM sealed value ("v1:") that
// does not show the secret.
func requireSealed(t *testing.T, what, stored, secret string) {
	t.Helper()
	if !strings.HasPrefix(stored, "v1:") || strings.Contains(stored, secret) ||
		strings.Contains(stored, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("%s is not sealed: %d bytes, prefix %q", what, len(stored), stored[:min(len(stored), 6)])
	}
}

func requireSealedInUsersDB(t *testing.T, ctx context.Context, d *db.DB, userID, secret string) {
	t.Helper()
	var stored string
	if err := d.SQL.QueryRowContext(ctx, `SELECT coalesce(webhook_secret, '') FROM users WHERE id::text = $1`, userID).Scan(&stored); err != nil {
		t.Fatalf("read users.webhook_secret: %v", err)
	}
	requireSealed(t, "users.webhook_secret", stored, secret)
}

type webhookRow struct {
	OrderID, Status, Secret, LastError string
	Attempts                           int
}

func webhookDeliveries(t *testing.T, ctx context.Context, d *db.DB, userID string) []webhookRow {
	t.Helper()
	rows, err := d.SQL.QueryContext(ctx, `SELECT order_id, status::text, secret, attempts, last_error FROM deliveries
		WHERE channel::text = 'webhook' AND user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		t.Fatalf("read deliveries: %v", err)
	}
	defer rows.Close()
	var out []webhookRow
	for rows.Next() {
		var r webhookRow
		if err := rows.Scan(&r.OrderID, &r.Status, &r.Secret, &r.Attempts, &r.LastError); err != nil {
			t.Fatalf("read deliveries: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read deliveries: %v", err)
	}
	return out
}

// deliveryOf waits for the order's webhook delivery row and returns it.
func deliveryOf(t *testing.T, ctx context.Context, d *db.DB, orderID string) webhookRow {
	t.Helper()
	var r webhookRow
	err := d.SQL.QueryRowContext(ctx, `SELECT order_id, status::text, secret, attempts, last_error FROM deliveries
		WHERE channel::text = 'webhook' AND order_id = $1`, orderID).Scan(&r.OrderID, &r.Status, &r.Secret, &r.Attempts, &r.LastError)
	if err != nil {
		t.Fatalf("read the webhook delivery of %s: %v", orderID, err)
	}
	return r
}

// waitWebhookDeliveries waits until the user has n webhook deliveries and
// all are SENT; a FAILED or SKIPPED one fails at once.
func waitWebhookDeliveries(t *testing.T, ctx context.Context, d *db.DB, userID string, n int) {
	t.Helper()
	deadline := time.Now().Add(webhookWait)
	for {
		rows := webhookDeliveries(t, ctx, d, userID)
		sent := 0
		for _, r := range rows {
			switch r.Status {
			case "SENT":
				sent++
			case "FAILED", "SKIPPED":
				t.Fatalf("webhook delivery of order %s is %s: %s", r.OrderID, r.Status, r.LastError)
			}
		}
		if len(rows) > n {
			t.Fatalf("%d webhook deliveries, want %d: %+v", len(rows), n, rows)
		}
		if sent == n {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("webhook deliveries after %s: %+v, want %d SENT", webhookWait, rows, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
