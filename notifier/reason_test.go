package notifier

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/statusevent"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/netguard/dnstest"
	"github.com/heraldhq/herald/notifier/channel"
	"github.com/heraldhq/herald/notifier/channel/webhook"
)

// A webhook whose name resolves to 127.0.0.1 is refused when dialled, the
// delivery fails with the fixed reason, and neither the status event nor
// its history row carries an address or the receiver's answer; the
// delivery's last_error (operators only) keeps the detail.
func TestStatusEventsCarryFixedReasons(t *testing.T) {
	ctx := context.Background()
	client, d := openSQLite(t)

	target := dnstest.NewTarget(t)
	res := dnstest.Resolver(t, map[string][]netip.Addr{"hooks.example.com": {netip.MustParseAddr("127.0.0.1")}})

	const body = "upstream 10.9.8.7:5432 refused: secret-ish details"
	loud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, body, http.StatusServiceUnavailable)
	}))
	defer loud.Close()

	tests := []struct {
		name        string
		url         string
		allowLocal  bool
		wantStatus  delivery.Status
		wantReason  string
		wantInError string
	}{
		{"name resolving to loopback", "https://hooks.example.com:" + target.Port + "/h", false, delivery.StatusFAILED,
			channel.ReasonAddressNotAllowed, "127.0.0.1"},
		{"IP literal in short form", "https://127.1:" + target.Port + "/h", false, delivery.StatusFAILED,
			channel.ReasonAddressNotAllowed, "127.0.0.1"},
		{"receiver answers 503 with a body", loud.URL + "/h", true, delivery.StatusRETRYING,
			"receiver answered HTTP 503", body},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sender, err := webhook.New(webhook.Config{Timeout: 5 * time.Second, Resolver: res, AllowLoopbackHTTP: tc.allowLocal}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			w := &Worker{DB: client, Dialect: d.Dialect, Senders: map[string]channel.Sender{webhook.Name: sender},
				Status: statusEvents{Topic: "NotificationStatus", Source: StatusSource}, Logger: testLogger(t),
				Backoff: Backoff{Base: time.Minute, Max: time.Minute}, MaxAttempts: 10, MaxAge: 24 * time.Hour,
				Lease: 5 * time.Minute}
			now := time.Now().UTC()
			row, err := client.Delivery.Create().SetEventID(uuid.NewString()).SetEventType(events.TypeOrderCreated).
				SetOrderID("ord-" + uuid.NewString()).SetUserID("usr-1").SetChannel(webhook.Name).
				SetCategory(CategoryOrderUpdates).SetRecipient(tc.url).SetSecret("whsec_plain").
				SetPayload([]byte(`{"orderId":"o"}`)).SetStatus(delivery.StatusPENDING).
				SetPublicStatus(delivery.PublicStatusPENDING).SetStatusAt(now.Add(-time.Minute)).
				SetNextAttemptAt(now.Add(-time.Second)).SetCreatedAt(now.Add(-time.Minute)).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := client.Delivery.Get(ctx, row.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || !strings.Contains(got.LastError, tc.wantInError) {
				t.Fatalf("delivery %s, last_error %q; want %s with %q in it", got.Status, got.LastError, tc.wantStatus, tc.wantInError)
			}
			hist, err := client.StatusEvent.Query().Where(statusevent.DeliveryID(row.ID), statusevent.StatusEQ(statusevent.Status(tc.wantStatus))).All(ctx)
			if err != nil || len(hist) != 1 || hist[0].Reason != tc.wantReason {
				t.Fatalf("status history %+v, %v; want one %s with reason %q", hist, err, tc.wantStatus, tc.wantReason)
			}
			outs, err := client.OutboxEvent.Query().All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, o := range outs {
				p := string(o.Payload)
				if !strings.Contains(p, row.ID.String()) {
					continue
				}
				for _, leak := range []string{"127.0.0.1", "10.9.8.7", "hooks.example.com", "secret-ish"} {
					if strings.Contains(p, leak) {
						t.Errorf("status event %s carries %q", p, leak)
					}
				}
				found = found || strings.Contains(p, `"reason":"`+tc.wantReason+`"`)
			}
			if !found {
				t.Errorf("no status event with reason %q among %d outbox rows", tc.wantReason, len(outs))
			}
		})
	}
	// Nothing reached the listener on 127.0.0.1.
	target.NothingArrived(t)
}
