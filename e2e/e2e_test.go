// Package e2e runs Herald's binaries as real processes against real
// infrastructure (Kafka or NATS JetStream, PostgreSQL, mailpit) and talks to
// them only through the router, as a web app would.
package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/router/auth/authtest"
)

// issuer is the identity provider of every stack: its key set is served
// over HTTP by this process, and the router fetches it as it would a real
// provider's.
var issuer *authtest.Issuer

func TestMain(m *testing.M) {
	is, err := authtest.StartIssuer("https://id.e2e.herald.test", authtest.ES256)
	if err != nil {
		panic(err)
	}
	issuer = is
	testenv.Main(m)
}

func TestOrderConfirmation(t *testing.T) { onEachStream(t, runOrderScenario) }

// onEachStream runs scenario once on each stream backend, as the subtests
// kafka and nats, with the services' settings for the shared broker.
func onEachStream(t *testing.T, scenario func(t *testing.T, streamEnv map[string]string)) {
	for _, kind := range []string{"kafka", "nats"} {
		t.Run(kind, func(t *testing.T) { scenario(t, testenv.StreamEnv(t, kind)) })
	}
}

// runOrderScenario starts the four services on the given stream backend and
// walks the skeleton's promise: an order for a user with email on produces
// exactly one confirmation; cancelling it produces exactly one cancellation
// notice, a notification of its own that a browser watching the status
// subscription tells from the confirmation, even when the broker delivers
// the cancellation twice; a user with email off gets nothing; an order for
// an unknown user is refused and sends nothing.
func runOrderScenario(t *testing.T, streamEnv map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	mp := testenv.Mailpit(t)
	stack := startStack(t, ctx, stackOptions{
		Stream:  streamEnv,
		Mailpit: mp,
		DSN: map[string]string{
			"users":    testenv.Postgres(t),
			"orders":   testenv.Postgres(t),
			"notifier": testenv.Postgres(t),
		},
		Statuses: true,
	})
	gql := stack.Router

	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	alice := "alice+" + suffix + "@example.com"
	bob := "bob+" + suffix + "@example.com"
	aliceID := registerUser(t, ctx, gql, "Alice", alice, true)
	bobID := registerUser(t, ctx, gql, "Bob", bob, false)

	// The cross-subgraph join works before any order exists.
	var joined struct {
		User struct {
			ID     string `json:"id"`
			Email  string `json:"email"`
			Orders []any  `json:"orders"`
		} `json:"user"`
	}
	gql.mustDo(t, ctx, `query($id: ID!){ user(id: $id){ id email orders { id } } }`, map[string]any{"id": aliceID}, &joined)
	if joined.User.ID != aliceID || joined.User.Email != alice || len(joined.User.Orders) != 0 {
		t.Fatalf("user before orders = %+v", joined.User)
	}

	// Alice's notification statuses, as her browser would watch them.
	statuses := subscribeStatuses(t, ctx, gql, aliceID)

	bobOrder := createOrder(t, ctx, gql, bobID)
	aliceOrder := createOrder(t, ctx, gql, aliceID)

	// Alice's confirmation arrives, naming her order. The deadline is
	// patience, not a speed claim: the path crosses the orders outbox, the
	// broker (the notifier may still be joining its consumer group), the
	// users service and SMTP on a loaded machine.
	msgs := waitForMail(t, ctx, mp, alice, 1, time.Minute)
	if !strings.Contains(msgs[0].Subject+msgs[0].Text, aliceOrder) {
		t.Fatalf("email to alice does not name order %s: subject %q", aliceOrder, msgs[0].Subject)
	}

	// The join now lists the order through federation.
	gql.mustDo(t, ctx, `query($id: ID!){ user(id: $id){ id email orders { id } } }`, map[string]any{"id": aliceID}, &joined)
	if len(joined.User.Orders) != 1 {
		t.Fatalf("alice has %d orders through the router, want 1", len(joined.User.Orders))
	}

	// Cancelling the order sends one cancellation notice: a notification
	// of its own, with its own status events.
	confirmed := statuses.waitForEvent(t, ctx, aliceOrder, "EMAIL", "ORDER_CREATED", "SENT")
	cancelOrder(t, ctx, gql, aliceOrder, "ordered by mistake")
	msgs = waitForMail(t, ctx, mp, alice, 2, time.Minute)
	notice := findMail(msgs, "Order "+aliceOrder+" cancelled")
	if notice == nil || !strings.Contains(notice.Text, "ordered by mistake") {
		t.Fatalf("no cancellation notice naming order %s and its reason among %d emails to alice: %+v", aliceOrder, len(msgs), msgs)
	}
	seq := statuses.waitForEvent(t, ctx, aliceOrder, "EMAIL", "ORDER_CANCELLED", "SENT")
	if seq[0] != "PENDING" {
		t.Errorf("cancellation notice statuses %v, want PENDING first", seq)
	}
	t.Logf("confirmation statuses %v, cancellation statuses %v", confirmed, seq)
	broker := streamBroker(t, ctx, streamEnv)
	cancelled := orderCancelledEvent(t, ctx, broker, stack, aliceOrder)
	created, notified := statuses.notification(aliceOrder, "EMAIL", "ORDER_CREATED"), statuses.notification(aliceOrder, "EMAIL", "ORDER_CANCELLED")
	if created.NotificationID == notified.NotificationID || created.EventID == notified.EventID || notified.EventID != cancelled.Header(events.HeaderID) {
		t.Errorf("confirmation %+v and cancellation %+v (OrderCancelled ce_id %s) are not two notifications of their own events",
			created, notified, cancelled.Header(events.HeaderID))
	}

	// The broker delivers the same cancellation again (as after a consumer
	// crash): the notifier knows it, and nothing more is sent (counted
	// below, after the settling time).
	redeliverOnce(t, ctx, stack, broker, cancelled)
	statuses.waitForEvent(t, ctx, aliceOrder, "EMAIL", "ORDER_CANCELLED", "SENT") // still one notification

	// An order for nobody is refused with a code, and sends nothing.
	errs := gql.do(t, ctx, `mutation($in: CreateOrderInput!){ createOrder(input: $in){ id } }`, map[string]any{
		"in": orderInput("00000000-0000-0000-0000-000000000000"),
	}, nil)
	if len(errs) == 0 {
		t.Fatal("createOrder for a missing user succeeded")
	}
	if c := errs[0].Code(); c != "NOT_FOUND" && c != "BAD_USER_INPUT" {
		t.Fatalf("createOrder for a missing user: code %q (%s), want NOT_FOUND", c, errs[0].Message)
	}

	// Settle: give a duplicate or a stray email time to show up, then count.
	// This is a quiet period, not a speed claim.
	time.Sleep(2 * time.Second)
	got := mailTo(t, ctx, mp, alice)
	if len(got) != 2 || findMail(got, "Order "+aliceOrder+" confirmed") == nil || findMail(got, "Order "+aliceOrder+" cancelled") == nil {
		t.Fatalf("alice has %d emails, want exactly 2: the confirmation and the cancellation of %s (%+v)", len(got), aliceOrder, got)
	}
	if got := mailTo(t, ctx, mp, bob); len(got) != 0 {
		t.Fatalf("bob (email off, order %s) has %d emails, want 0", bobOrder, len(got))
	}
}
