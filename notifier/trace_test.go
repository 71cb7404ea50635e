package notifier

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/notifier/channel/email"
)

const sampleTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func TestTraceParent(t *testing.T) {
	tests := []struct{ in, want string }{
		{sampleTrace, sampleTrace},
		{" " + sampleTrace + " ", sampleTrace},
		{"", ""},
		{"garbage", ""},
		{"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", ""}, // upper case
		{"00-00000000000000000000000000000000-b7ad6b7169203331-01", ""}, // zero trace id
		{"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", ""}, // zero parent id
		{"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ""}, // forbidden version
		{sampleTrace + "-extra", ""},                                    // version 00 has four fields
		{"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"},
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", ""}, // short parent id
	}
	for _, tc := range tests {
		if got := traceParent(tc.in); got != tc.want {
			t.Errorf("traceParent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The users client passes the event's traceparent on, and only when there
// is one.
func TestUsersRequestsCarryTraceParent(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"user":null,"notificationPolicy":{"status":"NOT_FOUND","deliveries":[]}}}`))
	}))
	defer srv.Close()
	c := NewUsersClient(srv.URL, &http.Client{Timeout: 5 * time.Second})
	for _, tp := range []string{sampleTrace, ""} {
		if _, err := c.Policy(withTraceParent(context.Background(), tp), "usr_1", CategoryOrderUpdates); err != nil {
			t.Fatal(err)
		}
		if h := <-got; h != tp {
			t.Errorf("users request traceparent = %q, want %q", h, tp)
		}
	}
}

// The consumed OrderCreated's traceparent is stored on the delivery and
// carried by its status events; a malformed one is dropped.
func TestTraceParentCarriedToStatusEvents(t *testing.T) {
	client, _ := openSQLite(t)
	f := newConsumerFixture(t, client)
	ctx := context.Background()
	uid := f.users.register(t, "Tracy", uniqueAddress("tracy"), "", true, false)
	for _, tc := range []struct{ header, want string }{{sampleTrace, sampleTrace}, {"not-a-trace", ""}} {
		m := orderMessage(t, "OrderCreated", uid, "ord-trace-"+tc.want)
		m.Headers = append(m.Headers, stream.Header{Key: events.HeaderTraceParent, Value: tc.header})
		if err := f.c.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
		ds := f.deliveries(t, m.Header(events.HeaderID))
		if len(ds) != 1 || ds[0].Channel != email.Name {
			t.Fatalf("deliveries = %+v", ds)
		}
		if ds[0].Traceparent != tc.want {
			t.Errorf("delivery traceparent = %q, want %q", ds[0].Traceparent, tc.want)
		}
		hist, err := StatusHistory(ctx, client, ds[0].ID)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history = %v, %v", hist, err)
		}
		ob, err := client.OutboxEvent.Get(ctx, hist[0].ID.String())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		tp := ""
		for _, h := range ob.Headers {
			keys = append(keys, h.Key)
			if h.Key == events.HeaderTraceParent {
				tp = h.Value
			}
		}
		if tp != tc.want || (tc.want == "" && slices.Contains(keys, events.HeaderTraceParent)) {
			t.Errorf("status event headers %v: traceparent %q, want %q", keys, tp, tc.want)
		}
		env, err := events.Decode(stream.Message{Headers: ob.Headers, Value: ob.Payload}, events.TypeNotificationStatus, &events.NotificationStatus{})
		if err != nil || env.TraceParent != tc.want {
			t.Errorf("decoded status event: traceparent %q (%v), want %q", env.TraceParent, err, tc.want)
		}
	}
}
