package e2e

// Scale-out proofs: Herald on a three-broker Kafka cluster (and, below, a
// three-server NATS cluster) keeps its promise while brokers die. Orders
// flow through the router at a steady pace; a broker is SIGKILLed in the
// middle (the leader of the OrderCreated partitions, then of the
// NotificationStatus partitions, then the active controller), comes back and
// rejoins the in-sync replicas; then one stays down while the other two
// serve. The audit is the same as on one broker: every acknowledged order
// has exactly one email and a forward-only status sequence. Times from each
// kill to the next email are logged (RECOVERY lines), never asserted.
// Proof 12 scales the services out instead: two of each, one of each
// killed in turn.

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	table "github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/stream"
	heraldnats "github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/testenv"
)

// clusterProof is a proof's stack on a broker cluster with its status feed.
type clusterProof struct {
	*proof
	kafka    *testenv.KafkaCluster // the cluster of a Kafka proof
	nats     *testenv.NATSCluster  // the cluster of a NATS proof
	statuses *collector
	cs       []customer // one order each, used up phase by phase
	next     int        // first customer not used yet
	book     *orderBook
}

// perPhase orders are placed 100 ms apart in each phase: the kill lands in
// the middle of them.
const perPhase = 100

// newClusterProof adds the status feed (read through b) and the customers
// of phases outages to a started proof.
func newClusterProof(t *testing.T, p *proof, b stream.Broker, phases int) *clusterProof {
	t.Helper()
	cp := &clusterProof{proof: p, book: &orderBook{}}
	cp.statuses = collect(t, p.ctx, b, p.stack.TopicNotificationStatus, "e2e-status-"+uuid.NewString())
	// A probe customer per phase, beside the load: the first order placed
	// after a kill.
	cp.cs = registerCustomers(t, p.ctx, p.stack.Router, "cluster", phases*(perPhase+1))
	waitReady(t, p.ctx, p.stack.Proc("notifier"), "/readyz")
	return cp
}

func startKafkaClusterProof(t *testing.T, ctx context.Context, phases int) *clusterProof {
	t.Helper()
	c := testenv.NewKafkaCluster(t, 3)
	p := startProof(t, ctx, c.Brokers, nil, stackOptions{})
	cp := newClusterProof(t, p, kafkaBroker(t, c.Brokers), phases)
	cp.kafka = c
	for _, topic := range []string{p.stack.TopicOrderCreated, p.stack.TopicNotificationStatus} {
		ps, err := c.Partitions(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for n, part := range ps {
			if len(part.Replicas) != 3 {
				t.Fatalf("%s/%d has replicas %v, want three", topic, n, part.Replicas)
			}
		}
	}
	return cp
}

func startNATSClusterProof(t *testing.T, ctx context.Context, phases int) *clusterProof {
	t.Helper()
	c := testenv.NewNATSCluster(t, 3)
	p := startProof(t, ctx, nil, nil, stackOptions{Stream: map[string]string{"HERALD_STREAM": "nats", "HERALD_NATS_URL": c.URL}})
	cp := newClusterProof(t, p, natsBroker(t, c.URL), phases)
	cp.nats = c
	for _, stream := range cp.natsStreams() {
		ci, err := c.StreamCluster(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(ci.Replicas)+1 != 3 { // Replicas lists the followers
			t.Fatalf("stream %s led by %s has followers %d, want two", stream, ci.Leader, len(ci.Replicas))
		}
	}
	return cp
}

// take hands out the next n customers.
func (cp *clusterProof) take(t *testing.T, n int) []customer {
	t.Helper()
	if cp.next+n > len(cp.cs) {
		t.Fatalf("only %d customers left, want %d", len(cp.cs)-cp.next, n)
	}
	cs := cp.cs[cp.next : cp.next+n]
	cp.next += n
	return cs
}

// kafkaTopics are the topics whose replicas a restarted broker must catch
// up on.
func (cp *clusterProof) kafkaTopics() []string {
	return []string{cp.stack.TopicOrderCreated, cp.stack.TopicNotificationStatus, "__consumer_offsets"}
}

// natsStreams are the streams of OrderCreated and NotificationStatus.
func (cp *clusterProof) natsStreams() []string {
	return []string{heraldnats.StreamName(cp.stack.TopicOrderCreated), heraldnats.StreamName(cp.stack.TopicNotificationStatus)}
}

// busiestLeader is the Kafka broker leading most partitions of topic (the
// lowest id on a tie) and the partitions it leads.
func (cp *clusterProof) busiestLeader(t *testing.T, topic string) (int32, []int32) {
	t.Helper()
	ps, err := cp.kafka.Partitions(cp.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	led := map[int32][]int32{}
	for n, p := range ps {
		if p.Leader >= 0 {
			led[p.Leader] = append(led[p.Leader], n)
		}
	}
	best := int32(-1)
	for id, parts := range led {
		if best < 0 || len(parts) > len(led[best]) || (len(parts) == len(led[best]) && id < best) {
			best = id
		}
	}
	if best < 0 {
		t.Fatalf("%s has no partition leader", topic)
	}
	slices.Sort(led[best])
	return best, led[best]
}

// kafkaFault is SIGKILL of Kafka node victim; moved tells when its role
// has gone to another node.
func (cp *clusterProof) kafkaFault(t *testing.T, what string, victim int32, moved func() bool) fault {
	return fault{
		what:  fmt.Sprintf("kafka cluster SIGKILL %s (node %d)", what, victim),
		kill:  func() { cp.kafka.Kill(t, victim) },
		moved: moved,
		back: func() {
			cp.kafka.Start(t, victim)
			cp.kafka.WaitInSync(t, cp.ctx, victim, cp.kafkaTopics()...)
		},
	}
}

// kafkaLeaderMoved reports whether no partition of topic among parts is led
// by victim any more (each has another leader).
func (cp *clusterProof) kafkaLeaderMoved(topic string, parts []int32, victim int32) func() bool {
	return func() bool {
		for _, n := range parts {
			l, err := cp.kafka.Leader(cp.ctx, topic, n)
			if err != nil || l < 0 || l == victim {
				return false
			}
		}
		return true
	}
}

// natsLeaderFault is SIGKILL of the server leading the stream of topic.
func (cp *clusterProof) natsLeaderFault(t *testing.T, what, topic string) fault {
	t.Helper()
	stream := heraldnats.StreamName(topic)
	victim, err := cp.nats.StreamLeader(cp.ctx, stream)
	if err != nil || victim == "" {
		t.Fatalf("leader of stream %s: %q, %v", stream, victim, err)
	}
	return fault{
		what: fmt.Sprintf("nats cluster SIGKILL leader of the %s stream (%s)", what, victim),
		kill: func() { cp.nats.Kill(t, victim) },
		moved: func() bool {
			now, err := cp.nats.StreamLeader(cp.ctx, stream)
			return err == nil && now != "" && now != victim
		},
		back: func() {
			cp.nats.Start(t, victim)
			cp.nats.WaitCurrent(t, cp.ctx, victim, cp.natsStreams()...)
		},
	}
}

// natsMetaFault is SIGKILL of the JetStream meta leader.
func (cp *clusterProof) natsMetaFault(t *testing.T) fault {
	t.Helper()
	victim, err := cp.nats.MetaLeader(cp.ctx)
	if err != nil {
		t.Fatalf("meta leader: %v", err)
	}
	return fault{
		what: fmt.Sprintf("nats cluster SIGKILL JetStream meta leader (%s)", victim),
		kill: func() { cp.nats.Kill(t, victim) },
		moved: func() bool {
			now, err := cp.nats.MetaLeader(cp.ctx)
			return err == nil && now != victim
		},
		back: func() {
			cp.nats.Start(t, victim)
			cp.nats.WaitCurrent(t, cp.ctx, victim, cp.natsStreams()...)
		},
	}
}

// fault is one broker killed in a cluster.
type fault struct {
	what  string      // for the log
	kill  func()      // SIGKILL
	moved func() bool // whether its role has gone to another member
	back  func()      // restart it and wait until it has rejoined
}

// outage kills a broker while a phase's orders flow, measures how long the
// pipeline takes to deliver again, and brings the broker back (f.back)
// unless it is to stay down.
func (cp *clusterProof) outage(t *testing.T, f fault, stayDown bool) {
	t.Helper()
	ctx := cp.ctx
	load := cp.take(t, perPhase)
	probe := cp.take(t, 1)[0]
	before, err := mailCount(ctx, cp.mailpit)
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	go func() { created <- pacedOrders(ctx, through(cp.stack.Router), load, 100*time.Millisecond, cp.book) }()
	waitMailTotal(t, ctx, cp.mailpit, before+15, 2*time.Minute) // mail is flowing

	atKill, err := mailCount(ctx, cp.mailpit)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	f.kill()
	movedAt := make(chan time.Duration, 1)
	go func() {
		for !f.moved() {
			if ctx.Err() != nil {
				movedAt <- -1
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		movedAt <- time.Since(killed)
	}()
	probeID, err := tryCreateOrder(ctx, cp.stack.Router, probe.ID)
	if err != nil {
		t.Fatalf("order placed after the kill: %v", err)
	}
	cp.book.add(expectation{Recipient: probe.Email, OrderID: probeID})
	next := firstMailAfter(t, ctx, cp.proof, atKill, killed, 3*time.Minute)
	movedAfter := <-movedAt
	if movedAfter < 0 {
		t.Fatalf("%s: the role never moved to another member", f.what)
	}
	waitForMail(t, ctx, cp.mailpit, probe.Email, 1, 3*time.Minute)
	probeAfter := time.Since(killed)
	if err := <-created; err != nil {
		t.Fatalf("orders during the outage: %v", err)
	}
	back := "it stays down"
	if !stayDown {
		began := time.Now()
		f.back()
		back = fmt.Sprintf("restarted and rejoined (in sync) %s later", time.Since(began).Round(10*time.Millisecond))
	}
	t.Logf("RECOVERY %s: role moved after %s; next email %s after the kill; "+
		"first email of an order placed after the kill %s after it; %s",
		f.what, movedAfter.Round(10*time.Millisecond), next.Round(10*time.Millisecond),
		probeAfter.Round(10*time.Millisecond), back)
}

// audit waits until everything acknowledged is delivered and settled, logs
// the audit and checks it: one email per order (allowedResends copies of
// one Message-ID aside, see requireExactlyOnce), forward-only statuses.
func (cp *clusterProof) audit(t *testing.T, name string, allowedResends int) {
	t.Helper()
	want := cp.book.all()
	cp.finish(t, want, allowedResends, 3*time.Minute)
	logAudit(t, name, cp.proof, want)
	requireStatusHistory(t, cp.ctx, cp.statuses, want, false)
}

// Proof 10: a three-broker Kafka cluster loses, in turn, the leader of the
// OrderCreated partitions, the leader of the NotificationStatus partitions
// and the active controller (each SIGKILLed under load, restarted, back in
// the ISR), and then a broker that stays down while the other two serve:
// every acknowledged order has exactly one email and forward-only statuses.
func TestProof10KafkaClusterBrokerKills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cp := startKafkaClusterProof(t, ctx, 4)
	oc, ns := cp.stack.TopicOrderCreated, cp.stack.TopicNotificationStatus

	victim, parts := cp.busiestLeader(t, oc)
	cp.outage(t, cp.kafkaFault(t, fmt.Sprintf("leader of OrderCreated partitions %v", parts), victim, cp.kafkaLeaderMoved(oc, parts, victim)), false)

	victim, parts = cp.busiestLeader(t, ns)
	cp.outage(t, cp.kafkaFault(t, fmt.Sprintf("leader of NotificationStatus partitions %v", parts), victim, cp.kafkaLeaderMoved(ns, parts, victim)), false)

	ctrl, err := cp.kafka.ActiveController(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp.outage(t, cp.kafkaFault(t, "active controller", ctrl, func() bool {
		now, err := cp.kafka.ActiveController(ctx)
		return err == nil && now != ctrl
	}), false)

	victim, parts = cp.busiestLeader(t, oc)
	last := cp.kafkaFault(t, fmt.Sprintf("leader of OrderCreated partitions %v, left down", parts), victim, cp.kafkaLeaderMoved(oc, parts, victim))
	cp.outage(t, last, true)
	// The audit runs with the broker still down: the other two serve.
	cp.audit(t, "proof 10 kafka cluster", 0)
	last.back()
	t.Logf("node %d back in every ISR after the audit", victim)
}

// Proof 11: a three-server NATS JetStream cluster with R3 streams loses the
// leader of the OrderCreated stream, then of the NotificationStatus stream,
// then the JetStream meta leader (each SIGKILLed under load, restarted, a
// current replica again), then a
// server that stays down while the other two serve: every acknowledged order
// has exactly one email and forward-only statuses.
func TestProof11NATSClusterStreamLeaderKills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cp := startNATSClusterProof(t, ctx, 4)
	oc, ns := cp.stack.TopicOrderCreated, cp.stack.TopicNotificationStatus

	cp.outage(t, cp.natsLeaderFault(t, "OrderCreated", oc), false)
	cp.outage(t, cp.natsLeaderFault(t, "NotificationStatus", ns), false)
	cp.outage(t, cp.natsMetaFault(t), false)
	last := cp.natsLeaderFault(t, "OrderCreated", oc)
	cp.outage(t, last, true)
	// The audit runs with the server still down: the other two serve.
	cp.audit(t, "proof 11 nats cluster", 0)
	last.back()
	t.Logf("%s: a current replica again after the audit", last.what)
}

// instance is one process of a service that a proof crashes and restarts.
type instance struct {
	name string
	env  map[string]string // Launch overrides (nil: the stack's first instance)
	proc *proc
}

// twoOfEach starts a second users, orders, notifier and router beside the
// stack's first ones, wired to each other (router B → users B and orders B;
// orders B and notifier B → users B), on the same databases and topics.
// It returns both instances of each service, A first.
func twoOfEach(t *testing.T, ctx context.Context, s *stack) map[string][2]*instance {
	t.Helper()
	// The second instances' wiring: the first's, at addresses of their own.
	w := s.st.Wiring
	w.Addr = map[string]string{}
	for _, name := range table.Names() {
		w.Addr[name] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	out := map[string][2]*instance{}
	for _, name := range table.Names() { // in start order
		env := w.Env(name)
		if id := env["HERALD_STREAM_INSTANCE_ID"]; id != "" {
			env["HERALD_STREAM_INSTANCE_ID"] = id + "-second"
		}
		b := &instance{name: name, env: env, proc: s.Launch(t, name, env)}
		b.proc.waitHealthy(t, ctx)
		out[name] = [2]*instance{{name: name, proc: s.Procs(name)[0]}, b}
	}
	return out
}

// Proof 12: two of everything. Two routers, two orders, two users and two
// notifier instances share the databases and a Kafka cluster; clients spread
// orders over both routers and, like a client behind a load balancer, retry
// UNAVAILABLE and an unreachable router on the other one with the same
// idempotency key. One instance of each service is SIGKILLed in turn under
// load and stays down while 40 orders are acknowledged without it, then
// restarts: every acknowledged order has exactly one email and
// forward-only statuses, and clients saw only UNAVAILABLE or a refused
// connection.
func TestProof12TwoOfEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	c := testenv.NewKafkaCluster(t, 3)
	p := startProof(t, ctx, c.Brokers, nil, stackOptions{})
	cp := newClusterProof(t, p, kafkaBroker(t, c.Brokers), 4)
	pairs := twoOfEach(t, ctx, p.stack)
	routers := []*client{p.stack.Router, p.stack.Router.at(pairs["router"][1].proc.HTTP + "/graphql")}
	waitGroupShared(t, ctx, c.Brokers, p.stack.NotifierGroup, 2, 2*time.Minute)
	tally := &codeTally{}
	// Order i starts on router i mod 2 and moves to the other on a retry.
	spread := func(ctx context.Context, i int, userID string) (string, error) {
		return createOrderRetrying(ctx, []*client{routers[i%2], routers[(i+1)%2]}, userID, tally)
	}

	for _, name := range []string{"router", "orders", "users", "notifier"} {
		a := pairs[name][0]
		load := cp.take(t, perPhase)
		cp.take(t, 1) // the phase's probe customer is not needed here
		created := make(chan error, 1)
		start := cp.book.len()
		go func() { created <- pacedOrders(ctx, spread, load, 100*time.Millisecond, cp.book) }()
		// waitAcked waits until n orders are acknowledged in all. The kill
		// is placed by acknowledgements, not by arrived mail: on a loaded
		// machine mail lags the load, and a kill placed by mail could come
		// after most of the phase's orders were already taken.
		waitAcked := func(n int, what string) {
			for cp.book.len() < n {
				select {
				case err := <-created:
					t.Fatalf("the phase's orders ended (err %v) before %s", err, what)
				case <-ctx.Done():
					t.Fatalf("gave up waiting until %s", what)
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		waitAcked(start+15, "15 were acknowledged") // load is flowing through both routers
		atKill, err := mailCount(ctx, cp.mailpit)
		if err != nil {
			t.Fatal(err)
		}
		acked := cp.book.len()
		killed := time.Now()
		a.proc.Kill()
		next := firstMailAfter(t, ctx, cp.proof, atKill, killed, 3*time.Minute)
		// Down while 40 more orders are acknowledged through the others
		// (the phase has perPhase-15 left to place).
		waitAcked(acked+40, fmt.Sprintf("40 more were acknowledged with %s A down", name))
		down := time.Since(killed)
		a.proc = p.stack.Launch(t, name, a.env)
		a.proc.waitHealthy(t, ctx)
		if err := <-created; err != nil {
			t.Fatalf("clients with %s A killed: %v (codes seen: %v)", name, err, tally.snapshot())
		}
		t.Logf("RECOVERY two of everything, %s A SIGKILL: next email %s after the kill; down %s while 40 orders were acknowledged; restarted",
			name, next.Round(10*time.Millisecond), down.Round(10*time.Millisecond))
	}
	// A notifier killed between the relay's accept and its commit resends
	// with the same Message-ID: at most one per delivery worker.
	cp.audit(t, "proof 12 two of everything", deliveryWorkers)
	codes := tally.snapshot()
	for code := range codes {
		if code != "UNAVAILABLE" && code != "TRANSPORT" {
			t.Fatalf("clients saw %s (%q); want only UNAVAILABLE or an unreachable router (all: %v)", code, tally.first[code], codes)
		}
	}
	t.Logf("clients saw %v and retried (on the other router) by idempotency key", codes)
}
