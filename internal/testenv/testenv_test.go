package testenv_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/wneessen/go-mail"

	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// roundTrip produces one record to a new topic of the given replicas and consumes it back; it
// returns the topic.
func roundTrip(t *testing.T, brokers []string, replicas int16) string {
	t.Helper()
	c := ctx(t)
	topic := "testenv-" + uuid.NewString()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(c, 1, replicas, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	want := "hello " + topic
	if err := cl.ProduceSync(c, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(want)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for {
		fs := cl.PollFetches(c)
		if err := c.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			if got := string(recs[0].Value); got != want {
				t.Fatalf("consumed %q, want %q", got, want)
			}
			return topic
		}
	}
}

func TestKafkaShared(t *testing.T) {
	k := testenv.Kafka(t)
	if len(k.Brokers) == 0 {
		t.Fatal("no broker address")
	}
	roundTrip(t, k.Brokers, 1)
	if again := testenv.Kafka(t); strings.Join(again.Brokers, ",") != strings.Join(k.Brokers, ",") {
		t.Fatalf("second call gave %v, first %v: not shared", again.Brokers, k.Brokers)
	}
}

func TestKafkaRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own broker; -short skips it")
	}
	k := testenv.NewKafka(t)
	roundTrip(t, k.Brokers, 1)

	k.Stop(t)
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if conn, err := (&net.Dialer{}).DialContext(c, "tcp", k.Brokers[0]); err == nil {
		conn.Close()
		t.Fatalf("broker %s still accepts connections after Stop", k.Brokers[0])
	}
	k.Start(t)
	roundTrip(t, k.Brokers, 1)

	k.Kill(t)
	k.Start(t)
	roundTrip(t, k.Brokers, 1)
}

// TestKafkaCluster kills a partition leader and then the active controller of a three-node
// cluster: the other two serve meanwhile, and each node rejoins the ISR after its restart.
func TestKafkaCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own cluster; -short skips it")
	}
	c := testenv.NewKafkaCluster(t, 3)
	if len(c.Brokers) != 3 || len(c.Nodes) != 3 {
		t.Fatalf("cluster of %d addresses and %d nodes, want 3", len(c.Brokers), len(c.Nodes))
	}
	bg, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := roundTrip(t, c.Brokers, 3)
	leader := waitLeader(t, bg, c, topic, -1)

	c.Kill(t, leader)
	roundTrip(t, c.Brokers, 3) // two of three take RF3 writes
	moved := waitLeader(t, bg, c, topic, leader)
	t.Logf("leader of %s/0 moved from node %d to %d", topic, leader, moved)
	c.Start(t, leader)
	c.WaitInSync(t, bg, leader, topic)

	var ctrl int32
	for {
		var err error
		if ctrl, err = c.ActiveController(bg); err == nil {
			break
		}
		if bg.Err() != nil {
			t.Fatalf("no active controller: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Kill(t, ctrl)
	for {
		now, err := c.ActiveController(bg)
		if err == nil && now != ctrl {
			t.Logf("active controller moved from node %d to %d", ctrl, now)
			break
		}
		if bg.Err() != nil {
			t.Fatalf("controller still %d after killing it (err %v)", now, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	roundTrip(t, c.Brokers, 3)
	c.Start(t, ctrl)
	c.WaitInSync(t, bg, ctrl, topic)
}

// waitLeader waits until partition 0 of topic has a leader other than not, and returns it.
func waitLeader(t *testing.T, ctx context.Context, c *testenv.KafkaCluster, topic string, not int32) int32 {
	t.Helper()
	for {
		l, err := c.Leader(ctx, topic, 0)
		if err == nil && l >= 0 && l != not {
			return l
		}
		if ctx.Err() != nil {
			t.Fatalf("%s/0: leader %d (err %v), want one other than %d", topic, l, err, not)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPostgres(t *testing.T) {
	c := ctx(t)
	dsn1, dsn2 := testenv.Postgres(t), testenv.Postgres(t)
	if dsn1 == dsn2 {
		t.Fatalf("two calls gave the same database %s", dsn1)
	}
	conn, err := pgx.Connect(c, dsn1)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, sql := range []string{
		`CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`,
		`INSERT INTO notes (body) VALUES ('first'), ('second')`,
	} {
		if _, err := conn.Exec(c, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var n int
	var last string
	if err := conn.QueryRow(c, `SELECT count(*), max(body) FROM notes`).Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	if n != 2 || last != "second" {
		t.Fatalf("got %d rows, max %q; want 2, \"second\"", n, last)
	}
	// The second database is separate and empty.
	conn2, err := pgx.Connect(c, dsn2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	var exists bool
	if err := conn2.QueryRow(c, `SELECT to_regclass('notes') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("table from the first database is visible in the second")
	}
	var maxConn int
	if err := conn2.QueryRow(c, `SELECT current_setting('max_connections')::int`).Scan(&maxConn); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(testenv.EnvPostgresDSN) == "" && maxConn != 200 {
		t.Fatalf("max_connections = %d, want 200", maxConn)
	}
}

// jetStream connects to url (reconnecting for ever) and returns a fresh stream name and its
// subject.
func jetStream(t *testing.T, url string) (js jetstream.JetStream, name, subject string) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name = "TESTENV_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	return js, name, "testenv." + name
}

func TestNATS(t *testing.T) {
	c := ctx(t)
	js, name, subject := jetStream(t, testenv.NATS(t))
	stream, err := js.CreateStream(c, jetstream.StreamConfig{Name: name, Subjects: []string{subject}})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	defer js.DeleteStream(context.Background(), name)
	ack, err := js.Publish(c, subject, []byte("hello"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != name || ack.Sequence != 1 {
		t.Fatalf("ack %+v, want stream %s sequence 1", ack, name)
	}
	msg, err := stream.GetLastMsgForSubject(c, subject)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "hello" {
		t.Fatalf("stored %q, want hello", msg.Data)
	}
}

// TestNATSCluster kills the leader of an R3 stream: another server leads it, publishing goes
// on, and the restarted server catches up.
func TestNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own cluster; -short skips it")
	}
	c := testenv.NewNATSCluster(t, 3)
	bg, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	js, name, subject := jetStream(t, c.URL)
	if _, err := js.CreateStream(bg, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Replicas: 3}); err != nil {
		t.Fatalf("create R3 stream: %v", err)
	}
	publish := func() {
		t.Helper()
		for {
			// A publish sent while the connection moves to another
			// server can go unanswered: bound each attempt.
			attempt, cancel := context.WithTimeout(bg, 5*time.Second)
			_, err := js.Publish(attempt, subject, []byte("hello"))
			cancel()
			if err == nil {
				return
			}
			if bg.Err() != nil {
				t.Fatalf("publish: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	publish()
	leader := ""
	for leader == "" {
		var err error
		if leader, err = c.StreamLeader(bg, name); bg.Err() != nil {
			t.Fatalf("no stream leader: %v", err)
		}
	}
	c.Kill(t, leader)
	publish() // two of three servers take R3 writes
	for {
		now, err := c.StreamLeader(bg, name)
		if err == nil && now != "" && now != leader {
			t.Logf("stream leader moved from %s to %s", leader, now)
			break
		}
		if bg.Err() != nil {
			t.Fatalf("stream leader still %q after killing %s (err %v)", now, leader, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Start(t, leader)
	c.WaitCurrent(t, bg, leader, name)
	if meta, err := c.MetaLeader(bg); err != nil || c.Server(t, meta) == nil {
		t.Fatalf("meta leader %q: %v", meta, err)
	}
}

// send mails through mp with STARTTLS required and the CA from mp.CAFile trusted.
func send(t *testing.T, mp *testenv.MailpitServer, to, subject, body string) error {
	t.Helper()
	pemBytes, err := os.ReadFile(mp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", mp.CAFile)
	}
	host, portStr, err := net.SplitHostPort(mp.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(portStr, &port)
	cl, err := mail.NewClient(host, mail.WithPort(port), mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(&tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}),
		mail.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m := mail.NewMsg()
	if err := m.From("herald@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := m.To(to); err != nil {
		t.Fatal(err)
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, body)
	return cl.DialAndSendWithContext(ctx(t), m)
}

func TestMailpit(t *testing.T) {
	mp := testenv.Mailpit(t)
	to := "user-" + uuid.NewString() + "@example.test"
	if err := send(t, mp, to, "Order shipped", "Your order is on its way."); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs, err := mp.Messages(ctx(t), to)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages for %s, want 1", len(msgs), to)
	}
	got := msgs[0]
	if got.Subject != "Order shipped" || len(got.To) != 1 || got.To[0] != to ||
		strings.TrimSpace(got.Text) != "Your order is on its way." || got.From != "herald@example.test" {
		t.Fatalf("unexpected message %+v", got)
	}
	if err := mp.Clear(ctx(t)); err == nil {
		t.Fatal("Clear on the shared mailpit must be refused")
	}
}

func TestMailpitRejectsPlainSMTPAndChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own mailpit; -short skips it")
	}
	mp := testenv.NewMailpit(t)
	to := "chaos-" + uuid.NewString() + "@example.test"

	// STARTTLS is required: a client that will not upgrade is refused.
	host, portStr, _ := net.SplitHostPort(mp.SMTPAddr)
	var port int
	fmt.Sscan(portStr, &port)
	plain, err := mail.NewClient(host, mail.WithPort(port), mail.WithTLSPolicy(mail.NoTLS), mail.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m := mail.NewMsg()
	_ = m.From("herald@example.test")
	_ = m.To(to)
	m.Subject("plain")
	m.SetBodyString(mail.TypeTextPlain, "no tls")
	if err := plain.DialAndSendWithContext(ctx(t), m); err == nil {
		t.Fatal("mailpit accepted mail without STARTTLS")
	}

	if err := mp.SetChaos(ctx(t), testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 451, Probability: 100}}); err != nil {
		t.Fatal(err)
	}
	err = send(t, mp, to, "during chaos", "x")
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("send during chaos: %v, want a 451 refusal", err)
	}
	if err := mp.SetChaos(ctx(t), testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	if err := send(t, mp, to, "after chaos", "y"); err != nil {
		t.Fatalf("send after chaos: %v", err)
	}
	msgs, err := mp.Messages(ctx(t), to)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Subject != "after chaos" {
		t.Fatalf("got %+v, want only the mail sent after chaos", msgs)
	}
	if err := mp.Clear(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if msgs, err := mp.Messages(ctx(t), to); err != nil || len(msgs) != 0 {
		t.Fatalf("after Clear: %d messages, %v", len(msgs), err)
	}
}

// A reserved port is never handed to a bind(":0") nor answered while nothing serves it, yet a
// server binds it, before and after a restart.
func TestFreePortsHeld(t *testing.T) {
	port := testenv.Ports(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 2000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if got == port {
			t.Fatalf("bind(:0) was handed the reserved port %d", port)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("a connection to the reserved, unserved port %d was accepted", port)
	}
	for round := range 2 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: a server cannot bind its reserved port: %v", round, err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: dial the server: %v", round, err)
		}
		c.Close() // leaves a TIME_WAIT connection behind for the next round
		l.Close()
	}
}
