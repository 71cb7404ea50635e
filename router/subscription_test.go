package router

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/router/auth/authtest"
	"github.com/heraldhq/herald/router/subscription"
)

// The router's tests run against an identity provider of their own (a JWKS
// served over HTTP with fresh keys): testConfig trusts it, and every request
// sent through http.DefaultTransport (the default client, WebSocket dials)
// carries an operator's token unless it sets Authorization itself. Tests
// of identity itself (auth_test.go) choose their tokens, or plainClient for
// none.
var (
	testIssuer  *authtest.Issuer
	plainClient = &http.Client{Transport: http.DefaultTransport}
)

func TestMain(m *testing.M) {
	is, err := authtest.StartIssuer("router-tests", authtest.Ed25519)
	if err != nil {
		panic(err)
	}
	testIssuer = is
	operator := is.Operator("operator")
	http.DefaultTransport = authtest.BearerTransport(plainClient.Transport, func() string { return operator })
	testenv.Main(m)
}

// subscriptionBackends opens a broker on each real stream backend.
var subscriptionBackends = []struct {
	name string
	open func(t *testing.T) stream.Broker
}{
	{"kafka", func(t *testing.T) stream.Broker {
		b, err := kafka.New(context.Background(), kafka.Config{Brokers: testenv.Kafka(t).Brokers, Partitions: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"nats", func(t *testing.T) stream.Broker {
		b, err := nats.New(context.Background(), nats.Config{URL: testenv.NATS(t), Partitions: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

// uniqueTopic names a topic no earlier run used (re-created Kafka topics are
// refused by clients that knew them).
func uniqueTopic(t *testing.T) string {
	name := strings.NewReplacer("/", "-", " ", "-", ".", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
}

// newOrderEntitiesFake is the orders subgraph resolving Order entities (the
// shared fake resolves only User ones).
func newOrderEntitiesFake(t testing.TB) *fakeSubgraph {
	return startFake(t, &fakeSubgraph{
		sdl:  readSchema(t, "orders"),
		root: map[string]func(map[string]any) (any, *fakeError){},
		entity: func(rep map[string]any) (any, *fakeError) {
			if rep["__typename"] == "Order" {
				for _, o := range fakeOrders {
					if o["id"] == rep["id"] {
						return withUser(o), nil
					}
				}
			}
			return nil, notFound("no entity %v %v", rep["__typename"], rep["id"])
		},
	})
}

// startStatusRouter runs the router over subgraphs and the built-in
// notifications subgraph, its status events read from a topic of the
// test's own on broker; it hands back the topic too.
func startStatusRouter(t *testing.T, broker stream.Broker, subgraphs ...Subgraph) (*testRouter, *subscription.Server, string) {
	t.Helper()
	cfg := testConfig(append(subgraphs, builtinNotifications())...)
	cfg.Subscriptions.Topic = uniqueTopic(t)
	tr, srv := startSubscriptionRouter(t, cfg, broker)
	return tr, srv, cfg.Subscriptions.Topic
}

// startSubscriptionRouter runs the router with a broker and hands back its
// subscription server, to wait for subscriptions to be registered.
func startSubscriptionRouter(t *testing.T, cfg Config, broker stream.Broker) (*testRouter, *subscription.Server) {
	t.Helper()
	servers := make(chan *subscription.Server, 1)
	tr := startRouterWith(t, cfg, Deps{Broker: broker, onSubscriptions: func(s *subscription.Server) { servers <- s }})
	var srv *subscription.Server
	select {
	case srv = <-servers:
	case <-tr.run.Done():
		t.Fatalf("router stopped before serving: %v", tr.run.Err())
	}
	tr.waitReady(t) // the supergraph is composed
	// /healthz evaluates its checks in map order: it can pass the stream
	// check before the hub started and the supergraph check after, while
	// the hub is still positioning. Events published before the hub reads
	// the topic would be missed, so wait for the hub itself.
	select {
	case <-srv.Hub().Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("notification status stream not positioned within 60s; logs:\n%s", tr.logs.String())
	}
	return tr, srv
}

func builtinNotifications() Subgraph {
	return Subgraph{Name: subscription.SubgraphName, URL: subscription.BuiltinURL}
}

// waitWatchers polls until the hub watches n distinct filters, i.e. every
// subscription of the test reached the stream.
func waitWatchers(t *testing.T, srv *subscription.Server, n int) {
	t.Helper()
	got := testwait.Value(t, func() (int, error) { return srv.Hub().Watchers(), nil }, func(w int) bool { return w == n })
	if got != n {
		t.Fatalf("hub watches %d filters, want %d", got, n)
	}
}

func waitReceived(t *testing.T, srv *subscription.Server, n uint64) {
	t.Helper()
	got := testwait.Value(t, func() (uint64, error) { return srv.Stats().Received, nil }, func(r uint64) bool { return r >= n })
	if got < n {
		t.Fatalf("hub received %d events, want %d", got, n)
	}
}

// ---- a graphql-transport-ws client ----

type wsClient struct {
	t    *testing.T
	c    *websocket.Conn
	ctx  context.Context
	mu   sync.Mutex
	subs map[string]chan wsTestMessage
	// pongs counts pongs to our pings.
	pongs chan struct{}
}

type wsTestMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dialWS(t *testing.T, ctx context.Context, base string) *wsClient {
	t.Helper()
	cl, ack := dialWSAs(t, ctx, base, `{}`)
	if ack.Type != "connection_ack" {
		t.Fatalf("first message %+v, want connection_ack", ack)
	}
	go cl.readLoop()
	return cl
}

// dialWSAs opens a connection whose connection_init carries init (with no
// Authorization in it, the upgrade request's operator token counts) and
// returns the first message; err in it is why the connection ended instead.
func dialWSAs(t *testing.T, ctx context.Context, base, init string) (*wsClient, wsTestMessage) {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{subscription.Protocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != subscription.Protocol {
		t.Fatalf("negotiated subprotocol %q", got)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	cl := &wsClient{t: t, c: c, ctx: ctx, subs: map[string]chan wsTestMessage{}, pongs: make(chan struct{}, 8)}
	cl.write(wsTestMessage{Type: "connection_init", Payload: json.RawMessage(init)})
	var ack wsTestMessage
	if err := cl.read(&ack); err != nil {
		ack.Type, ack.Payload = "closed", json.RawMessage(strconv.Quote(err.Error()))
	}
	return cl, ack
}

func (cl *wsClient) write(m wsTestMessage) {
	b, _ := json.Marshal(m)
	if err := cl.c.Write(cl.ctx, websocket.MessageText, b); err != nil {
		cl.t.Errorf("ws write: %v", err)
	}
}

func (cl *wsClient) read(m *wsTestMessage) error {
	_, b, err := cl.c.Read(cl.ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, m)
}

func (cl *wsClient) readLoop() {
	defer func() {
		cl.mu.Lock()
		for _, ch := range cl.subs {
			close(ch)
		}
		cl.subs = nil
		cl.mu.Unlock()
	}()
	for {
		var m wsTestMessage
		if err := cl.read(&m); err != nil {
			return
		}
		switch m.Type {
		case "ping":
			b, _ := json.Marshal(wsTestMessage{Type: "pong"})
			_ = cl.c.Write(cl.ctx, websocket.MessageText, b)
		case "pong":
			cl.pongs <- struct{}{}
		default:
			cl.mu.Lock()
			ch := cl.subs[m.ID]
			cl.mu.Unlock()
			if ch == nil {
				cl.t.Errorf("ws message for unknown id: %+v", m)
				continue
			}
			ch <- m
		}
	}
}

func (cl *wsClient) subscribe(id, query string, vars map[string]any) <-chan wsTestMessage {
	ch := make(chan wsTestMessage, 1024)
	cl.mu.Lock()
	cl.subs[id] = ch
	cl.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	cl.write(wsTestMessage{ID: id, Type: "subscribe", Payload: payload})
	return ch
}

// ---- a GraphQL over SSE client (distinct connections mode) ----

type sseEvent struct {
	event string
	data  string
}

func sseSubscribe(t *testing.T, ctx context.Context, method, base, query string, vars map[string]any) <-chan sseEvent {
	t.Helper()
	return sseSubscribeAs(t, ctx, "", method, base, query, vars)
}

// sseSubscribeAs subscribes with token ("" keeps the default operator's).
func sseSubscribeAs(t *testing.T, ctx context.Context, token, method, base, query string, vars map[string]any) <-chan sseEvent {
	t.Helper()
	var req *http.Request
	var err error
	varsJSON, _ := json.Marshal(vars)
	if method == http.MethodGet {
		q := url.Values{"query": {query}, "variables": {string(varsJSON)}}
		req, err = http.NewRequestWithContext(ctx, method, base+"/graphql?"+q.Encode(), nil)
	} else {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, err = http.NewRequestWithContext(ctx, method, base+"/graphql", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("SSE %s: %v", method, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("SSE %s: status %d, content type %q", method, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" || ev.data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event:"):
				ev.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			}
		}
	}()
	return ch
}

// ---- the scenario ----

const statusQuery = `subscription Status($orderId: ID, $userId: ID) {
  notificationStatus(orderId: $orderId, userId: $userId) {
    notificationId eventId orderId userId channel status attempt reason nextAttemptAt time
    order { totalMinor currency }
  }
}`

// A literal argument, as many clients write it.
const statusQueryO3 = `subscription { notificationStatus(orderId: "o3") {
  notificationId eventId orderId userId channel status attempt reason nextAttemptAt time
  order { totalMinor currency }
} }`

func statusEvent(i int, order, user, channel, status string, attempt int, reason string, next *time.Time) events.NotificationStatus {
	return events.NotificationStatus{
		NotificationID: "n-" + order + "-" + strings.ToLower(channel),
		EventID:        "e-" + order,
		OrderID:        order,
		UserID:         user,
		Channel:        channel,
		Status:         status,
		Attempt:        attempt,
		Reason:         reason,
		NextAttemptAt:  next,
		Time:           time.Date(2024, 3, 1, 10, 0, i, 0, time.UTC),
	}
}

// wantPayload is the exact `next` payload for ev.
func wantPayload(ev events.NotificationStatus) map[string]any {
	var order map[string]any
	for _, o := range fakeOrders {
		if o["id"] == ev.OrderID {
			order = map[string]any{"totalMinor": float64(o["totalMinor"].(int)), "currency": o["currency"]}
		}
	}
	var reason, next any
	if ev.Reason != "" {
		reason = ev.Reason
	}
	if ev.NextAttemptAt != nil {
		next = ev.NextAttemptAt.Format(time.RFC3339Nano)
	}
	return map[string]any{"data": map[string]any{"notificationStatus": map[string]any{
		"notificationId": ev.NotificationID, "eventId": ev.EventID, "orderId": ev.OrderID, "userId": ev.UserID,
		"channel": ev.Channel, "status": ev.Status, "attempt": float64(ev.Attempt), "reason": reason,
		"nextAttemptAt": next, "time": ev.Time.Format(time.RFC3339Nano), "order": order,
	}}}
}

func publishStatuses(t *testing.T, ctx context.Context, pub stream.Publisher, topic string, evs ...events.NotificationStatus) {
	t.Helper()
	for _, ev := range evs {
		m, err := events.Encode(topic, ev.OrderID, events.Envelope{
			ID: fmt.Sprintf("%s-%s-%d", ev.NotificationID, ev.Status, ev.Attempt), Source: "router-test",
			Type: events.TypeNotificationStatus, Time: ev.Time,
		}, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// streamMessage is a message a subscriber receives over WebSocket or SSE.
type streamMessage interface {
	// kind is next, error, complete...; payload is its JSON.
	parts() (kind string, payload []byte)
}

func (m wsTestMessage) parts() (string, []byte) { return m.Type, m.Payload }
func (e sseEvent) parts() (string, []byte)      { return e.event, []byte(e.data) }

// collect reads next payloads until it has until of them (the final events
// of each order the subscriber should see), then returns them.
func collect[M streamMessage](t *testing.T, name string, ch <-chan M, until int) []map[string]any {
	t.Helper()
	var out []map[string]any
	timeout := time.After(60 * time.Second)
	for len(out) < until {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("%s: the stream ended after %d messages", name, len(out))
			}
			kind, payload := m.parts()
			if kind != "next" {
				t.Fatalf("%s: got %q %s, want next", name, kind, payload)
			}
			var p map[string]any
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatalf("%s: %v in %s", name, err, payload)
			}
			out = append(out, p)
		case <-timeout:
			t.Fatalf("%s: %d of %d messages within 60s: %v", name, len(out), until, out)
		}
	}
	return out
}

func expect(evs ...events.NotificationStatus) []map[string]any {
	out := make([]map[string]any, len(evs))
	for i, ev := range evs {
		out[i] = wantPayload(ev)
	}
	return out
}

func assertExact(t *testing.T, name string, got, want []map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s received\n%s\nwant\n%s", name, g, w)
	}
}

// assertPerOrder checks a subscriber spanning several orders: exactly the
// wanted payloads, in publish order per order (the stream orders per key,
// not across keys).
func assertPerOrder(t *testing.T, name string, got, want []map[string]any) {
	t.Helper()
	byOrder := func(ps []map[string]any) map[string][]map[string]any {
		out := map[string][]map[string]any{}
		for _, p := range ps {
			id := p["data"].(map[string]any)["notificationStatus"].(map[string]any)["orderId"].(string)
			out[id] = append(out[id], p)
		}
		return out
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", name, len(got), len(want))
	}
	g, w := byOrder(got), byOrder(want)
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for k := range g {
			seen[k] = true
		}
		for k := range w {
			seen[k] = true
		}
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	}) {
		assertExact(t, name+" order "+id, g[id], w[id])
	}
}

func TestNotificationStatusSubscriptions(t *testing.T) {
	for _, be := range subscriptionBackends {
		t.Run(be.name, func(t *testing.T) {
			broker := be.open(t)
			tr, srv, topic := startStatusRouter(t, broker, Subgraph{Name: "users", URL: newUsersFake(t).URL()},
				Subgraph{Name: "orders", URL: newOrderEntitiesFake(t).URL()})

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			ws := dialWS(t, ctx, tr.url)
			subA := ws.subscribe("a", statusQuery, map[string]any{"orderId": "o1"})
			subX := ws.subscribe("x", statusQuery, map[string]any{"userId": "u1"})
			sseB := sseSubscribe(t, ctx, http.MethodPost, tr.url, statusQueryO3, nil)
			sseY := sseSubscribe(t, ctx, http.MethodGet, tr.url, statusQuery, map[string]any{"userId": "u2"})
			// A second connection, both filters combined.
			ws2 := dialWS(t, ctx, tr.url)
			subA2 := ws2.subscribe("a", statusQuery, map[string]any{"orderId": "o1", "userId": "u1"})
			waitWatchers(t, srv, 5) // o1, u1, o3, u2, o1+u1

			pub, err := broker.Publisher()
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			retryAt := time.Date(2024, 3, 1, 10, 5, 0, 0, time.UTC)
			o1p := statusEvent(1, "o1", "u1", events.ChannelEmail, events.StatusPending, 0, "", nil)
			o3p := statusEvent(2, "o3", "u2", events.ChannelSMS, events.StatusPending, 0, "", nil)
			o2p := statusEvent(3, "o2", "u1", events.ChannelEmail, events.StatusPending, 0, "", nil)
			o1r := statusEvent(4, "o1", "u1", events.ChannelEmail, events.StatusRetrying, 1, "421 try again later", &retryAt)
			o3s := statusEvent(5, "o3", "u2", events.ChannelSMS, events.StatusSent, 1, "", nil)
			o9p := statusEvent(6, "o9", "u404", events.ChannelEmail, events.StatusSkipped, 0, "user deleted", nil)
			o1s := statusEvent(7, "o1", "u1", events.ChannelEmail, events.StatusSent, 2, "", nil)
			o2f := statusEvent(8, "o2", "u1", events.ChannelEmail, events.StatusFailed, 1, "550 mailbox unavailable", nil)
			publishStatuses(t, ctx, pub, topic, o1p, o3p, o2p, o1r, o3s, o9p, o1s, o2f)
			// A message of another type on the topic is skipped, not fatal.
			bad, _ := events.Encode(topic, "o1", events.Envelope{ID: "bad-1", Source: "router-test", Type: events.TypeOrderCreated, Time: time.Now()}, map[string]any{"orderId": "o1"})
			if err := pub.Publish(ctx, bad); err != nil {
				t.Fatal(err)
			}
			// Once the hub has dispatched all of them, a last event per order
			// follows every earlier one through the single reader: anything
			// misrouted earlier would arrive before it.
			waitReceived(t, srv, 9)
			o1z := statusEvent(9, "o1", "u1", events.ChannelSMS, events.StatusSkipped, 0, "no phone number", nil)
			o2z := statusEvent(10, "o2", "u1", events.ChannelSMS, events.StatusSkipped, 0, "no phone number", nil)
			o3z := statusEvent(11, "o3", "u2", events.ChannelEmail, events.StatusSkipped, 0, "email disabled", nil)
			publishStatuses(t, ctx, pub, topic, o1z, o2z, o3z)

			assertExact(t, "ws orderId o1", collect(t, "ws a", subA, 4), expect(o1p, o1r, o1s, o1z))
			assertExact(t, "ws orderId o1 and userId u1", collect(t, "ws2 a", subA2, 4), expect(o1p, o1r, o1s, o1z))
			assertPerOrder(t, "ws userId u1", collect(t, "ws x", subX, 7), expect(o1p, o2p, o1r, o1s, o2f, o1z, o2z))
			assertExact(t, "SSE POST orderId o3", collect(t, "sse b", sseB, 3), expect(o3p, o3s, o3z))
			assertExact(t, "SSE GET userId u2", collect(t, "sse y", sseY, 3), expect(o3p, o3s, o3z))
			if st := srv.Stats(); st.Malformed != 1 || st.Received != 12 {
				t.Errorf("stats %+v, want 12 received, 1 malformed", st)
			}

			// The client completes "a": the server stops it, and the id can
			// be used again at once.
			ws.write(wsTestMessage{ID: "a", Type: "complete"})
			ws.write(wsTestMessage{Type: "ping"})
			select {
			case <-ws.pongs:
			case <-time.After(30 * time.Second):
				t.Fatal("no pong")
			}
		})
	}
}

func TestSchemaCopyMatchesEmbeddedSDL(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "schema", "notifications.graphqls"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != subscription.SDL {
		t.Error("schema/notifications.graphqls differs from router/subscription/notifications.graphqls: copy one over the other")
	}
}
