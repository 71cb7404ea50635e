package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier/channel"
)

// push is a channel that exists only in this test binary. It is registered
// the way the real channels are (channel.Register from an init function)
// and named nowhere else in the notifier: TestRegisteredChannelRoutedKafka
// shows that this is all a channel needs to be routed end to end.
const pushName = "push"

// pushSent receives every message the push sender accepted.
var pushSent = make(chan channel.Message, 64)

type pushConfig struct{ timeout time.Duration }

func (c pushConfig) SendTimeout() time.Duration { return c.timeout }

func (c pushConfig) Open(*slog.Logger) (channel.Sender, error) { return pushSender{}, nil }

type pushSender struct{}

func (pushSender) Send(ctx context.Context, m channel.Message) (channel.Result, error) {
	select {
	case pushSent <- m:
		return channel.Result{ProviderID: "push-" + m.DeliveryID}, nil
	case <-ctx.Done():
		return channel.Result{}, channel.Transient(ctx.Err())
	}
}

const pushTimeoutVar = "HERALD_PUSH_TIMEOUT"

func init() {
	channel.Register(channel.Kind{
		Name: pushName, Address: "device token", Provider: "push service",
		Configure: func(v *config.Vars) channel.Config {
			return pushConfig{timeout: v.Duration(pushTimeoutVar, 5*time.Second, "timeout of one push (test channel)")}
		},
		TimeoutVar: pushTimeoutVar,
		Render: func(event any, name, _ string) (channel.Content, error) {
			o, ok := event.(events.OrderCreated)
			if !ok {
				return channel.Content{}, fmt.Errorf("push: no text for %T", event)
			}
			return channel.Content{Text: fmt.Sprintf("%s, order %s is confirmed", name, o.OrderID)}, nil
		},
		Mask: func(string) string { return "device-…" },
	})
}

// pushDirectory is the users service's answer with the push channel added
// to the user's preferences, as a users service that stores device tokens
// would list it.
type pushDirectory struct {
	UserDirectory
	token string
}

func (d pushDirectory) Policy(ctx context.Context, userID, category string) (Policy, error) {
	p, err := d.UserDirectory.Policy(ctx, userID, category)
	if err != nil || p.Status != UserActive {
		return p, err
	}
	p.Channels[pushName] = ChannelPref{Enabled: true, Address: d.token}
	return p, nil
}

// A channel known only through the registry, on real Kafka, PostgreSQL and
// the real users service: its configuration is loaded (LoadChannels), the
// gate decides it, the consumer renders it and stores the row, a worker
// sends it through its sender, and its statuses are published with its
// enum value.
func TestRegisteredChannelRoutedKafka(t *testing.T) {
	broker, users, cfg, statuses := newPipeline(t, testenv.Mailpit(t))
	vars := config.New(nil)
	cfg.Channels = LoadChannels(vars)
	if err := vars.Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Channels[pushName]; !ok {
		t.Fatalf("LoadChannels did not configure the registered push channel: %v", cfg.Channels)
	}
	uid := users.register(t, "Ada", uniqueAddress("push"), "", false, false)
	const token = "device-token-1"
	stop, _ := startRunDeps(t, cfg, Deps{Broker: broker, Users: pushDirectory{NewUsersClient(users.URL, nil), token}})
	defer stop()

	publisher(t, broker)(orderMessage(t, cfg.Topic, uid, "ord-push"))
	var sent channel.Message
	for sent.OrderID != "ord-push" {
		select {
		case sent = <-pushSent:
		case <-time.After(60 * time.Second):
			t.Fatal("no push sent within 60s")
		}
	}
	if sent.Channel != pushName || sent.Recipient != token || sent.Text != "Ada, order ord-push is confirmed" || sent.UserID != uid {
		t.Errorf("push message = %+v", sent)
	}

	got := statuses.waitFor(t, "ord-push", events.StatusSent)
	if len(got) != 2 || got[0].Status != events.StatusPending || got[1].Status != events.StatusSent {
		t.Fatalf("statuses = %+v, want PENDING, SENT", got)
	}
	for _, s := range got {
		if s.Channel != "PUSH" || s.NotificationID != sent.DeliveryID {
			t.Errorf("status event %+v: want channel PUSH for delivery %s", s, sent.DeliveryID)
		}
	}
	client, _ := openDB(t, cfg.DB.Driver, cfg.DB.DSN)
	rows, err := client.Delivery.Query().Where(delivery.OrderID("ord-push")).All(context.Background())
	if err != nil || len(rows) != 1 {
		t.Fatalf("deliveries of ord-push = %d (err %v), want 1: no row for the channels the user has off", len(rows), err)
	}
	if d := rows[0]; d.Channel != pushName || d.Status != delivery.StatusSENT || d.Body != sent.Text || d.MessageID != "push-"+sent.DeliveryID {
		t.Errorf("delivery row = channel %q status %s body %q message id %q", d.Channel, d.Status, d.Body, d.MessageID)
	}
}

// The registry and the GraphQL contracts agree: every channel a user can
// switch on (NotificationChannel, except IN_APP, which is the status stream
// itself) is a registered channel, every registered channel but this
// binary's test channel is in both enums, and NotificationDeliveryStatus
// lists exactly events.Statuses.
func TestRegistryMatchesGraphQLEnums(t *testing.T) {
	var registered []string
	for _, k := range channel.Kinds() {
		if k.Name != pushName {
			registered = append(registered, k.Enum())
		}
	}
	for _, file := range []string{"../schema/users.graphqls", "../schema/notifications.graphqls"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := parser.ParseSchema(&ast.Source{Name: file, Input: string(src)})
		if err != nil {
			t.Fatal(err)
		}
		values := func(enum string) []string {
			def := doc.Definitions.ForName(enum)
			if def == nil {
				return nil
			}
			var out []string
			for _, v := range def.EnumValues {
				out = append(out, v.Name)
			}
			return out
		}
		chans := slices.DeleteFunc(values("NotificationChannel"), func(s string) bool { return s == events.ChannelInApp })
		slices.Sort(chans) // the registry lists by name
		if !slices.Equal(chans, registered) {
			t.Errorf("%s: NotificationChannel lists %v (besides IN_APP), the registry %v", file, chans, registered)
		}
		if st := values("NotificationDeliveryStatus"); (st != nil || file == "../schema/notifications.graphqls") && !slices.Equal(st, events.Statuses) {
			t.Errorf("%s: NotificationDeliveryStatus lists %v, events.Statuses %v", file, st, events.Statuses)
		}
	}
}
