package e2e

// Helpers of the order scenario's cancellation part (e2e_test.go): the
// cancelOrder mutation, reading the OrderCancelled event off the broker and
// delivering it to the notifier a second time.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier"
)

// cancelOrder cancels a CREATED order through the router.
func cancelOrder(t *testing.T, ctx context.Context, c *client, orderID, reason string) {
	t.Helper()
	var r struct {
		CancelOrder struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"cancelOrder"`
	}
	c.mustDo(t, ctx, `mutation($id: ID!, $why: String){ cancelOrder(id: $id, reason: $why){ id status } }`,
		map[string]any{"id": orderID, "why": reason}, &r)
	if r.CancelOrder.ID != orderID || r.CancelOrder.Status != "CANCELLED" {
		t.Fatalf("cancelOrder(%s) = %+v, want CANCELLED", orderID, r.CancelOrder)
	}
}

// findMail returns the first message with subject, or nil.
func findMail(msgs []testenv.MailMessage, subject string) *testenv.MailMessage {
	for i := range msgs {
		if msgs[i].Subject == subject {
			return &msgs[i]
		}
	}
	return nil
}

// notification returns the latest status event seen for the notification
// about event (ORDER_CREATED, ORDER_CANCELLED) of the order on channel.
func (f *statusFeed) notification(orderID, channel, event string) statusEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var last statusEvent
	for _, e := range f.events {
		if e.OrderID == orderID && e.Channel == channel && e.Event == event {
			last = e
		}
	}
	return last
}

// streamBroker opens Herald's stream layer on the scenario's backend (the
// same HERALD_STREAM_* variables the services get), as a test client.
func streamBroker(t *testing.T, ctx context.Context, streamEnv map[string]string) stream.Broker {
	t.Helper()
	v := config.New(func(k string) string { return streamEnv[k] })
	cfg := backend.LoadConfig(v)
	if err := v.Err(); err != nil {
		t.Fatalf("stream configuration: %v", err)
	}
	b, err := backend.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("open stream backend: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// orderCancelledEvent reads the OrderCancelled event of an order off the
// stack's topic, from its start, with a group of the test's own.
func orderCancelledEvent(t *testing.T, ctx context.Context, b stream.Broker, s *stack, orderID string) stream.Message {
	t.Helper()
	group := fmt.Sprintf("e2e-reader-%d", time.Now().UnixNano())
	got := collect(t, ctx, b, s.TopicOrderCancelled, group).waitFor(t, ctx, "OrderCancelled events of "+orderID, 1, time.Minute,
		func(m stream.Message) bool { return m.Header(events.HeaderSubject) == orderID })
	if len(got) != 1 {
		t.Fatalf("%d OrderCancelled events of %s, want 1", len(got), orderID)
	}
	return got[0]
}

// redeliverOnce publishes m again, unchanged (same ce_id), as a broker
// redelivers after a consumer crash, and waits until the notifier has
// handled it: its duplicate count grows. A broker that drops repeated
// publications (JetStream, by ce_id) is given an id of its own for it, as
// a dead-letter replay does, so that the notifier does receive it.
func redeliverOnce(t *testing.T, ctx context.Context, s *stack, b stream.Broker, m stream.Message) {
	t.Helper()
	metrics := s.Proc("notifier").HTTP + "/metrics"
	dup := `result="duplicate"`
	before := scrapeMetric(t, ctx, metrics, notifier.MetricEventsConsumed, dup)
	pub, err := b.Publisher()
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	defer pub.Close()
	again := stream.Message{Topic: m.Topic, Key: m.Key, Value: m.Value,
		Headers: append(append([]stream.Header(nil), m.Headers...),
			stream.Header{Key: stream.DedupHeader, Value: m.Header(events.HeaderID) + "/e2e-redelivery"})}
	if err := pub.Publish(ctx, again); err != nil {
		t.Fatalf("publish the cancellation again: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for scrapeMetric(t, ctx, metrics, notifier.MetricEventsConsumed, dup) <= before {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the notifier did not report the redelivered cancellation %s as a duplicate", m.Header(events.HeaderID))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrapeMetric reads the sum of the samples of a Prometheus metric whose
// labels contain labels (0 when there are none yet).
func scrapeMetric(t *testing.T, ctx context.Context, url, name, labels string) float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: HTTP %d, %v", url, resp.StatusCode, err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') || !strings.Contains(rest, labels) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
