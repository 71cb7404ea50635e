package email

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testwait"
	"github.com/heraldhq/herald/notifier/channel"
)

// mailpitSender is a sender for mp with STARTTLS required.
func mailpitSender(t *testing.T, mp *testenv.MailpitServer, mod func(*Config)) *Sender {
	t.Helper()
	cfg := baseConfig()
	cfg.Addr, cfg.CAFile = mp.SMTPAddr, mp.CAFile
	if mod != nil {
		mod(&cfg)
	}
	s := newTestSender(t, cfg)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// exactlyOnce waits until to has a message and checks it has exactly one,
// with the delivery's Message-ID.
func exactlyOnce(t *testing.T, mp *testenv.MailpitServer, to string, m channel.Message) {
	t.Helper()
	got := waitMail(t, mp, to, 1)
	if len(got) != 1 || got[0].MessageID != m.DeliveryID+"@herald.local" {
		t.Errorf("%s received %d messages (%+v), want exactly 1 with Message-ID %s", to, len(got), got, m.DeliveryID)
	}
}

// Many emails over one connection: one dial, each email arrives once.
func TestSendReusesConnectionMailpit(t *testing.T) {
	mp := testenv.Mailpit(t)
	s := mailpitSender(t, mp, nil)
	const n = 12
	sent := map[string]channel.Message{}
	for range n {
		to := uniqueAddress("reuse")
		m := orderMessage(t, to)
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("send %d: %v", len(sent)+1, err)
		}
		sent[to] = m
	}
	if d := s.dials.Load(); d != 1 {
		t.Errorf("%d sends dialled %d connections, want 1", n, d)
	}
	if s.idleCount() != 1 {
		t.Errorf("idle connections = %d, want 1", s.idleCount())
	}
	for to, m := range sent {
		exactlyOnce(t, mp, to, m)
	}
	// Later sends wait and re-read: a duplicate would have arrived by now
	// together with the rest, but read once more after all are in.
	for to := range sent {
		if msgs, err := mp.Messages(t.Context(), to); err != nil || len(msgs) != 1 {
			t.Errorf("%s: %d messages (err %v), want 1", to, len(msgs), err)
		}
	}
}

// Concurrent sends (several delivery workers) each use a connection of
// their own and keep it: no more connections than sends at once.
func TestSendConcurrentReuseMailpit(t *testing.T) {
	mp := testenv.Mailpit(t)
	s := mailpitSender(t, mp, nil)
	const workers, each = 3, 5
	var (
		mu   sync.Mutex
		sent = map[string]channel.Message{}
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				to := uniqueAddress("conc")
				m := orderMessage(t, to)
				if _, err := s.Send(t.Context(), m); err != nil {
					t.Errorf("send: %v", err)
					return
				}
				mu.Lock()
				sent[to] = m
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if d := s.dials.Load(); d < 1 || d > workers {
		t.Errorf("%d concurrent senders dialled %d connections, want 1..%d", workers, d, workers)
	}
	if len(sent) != workers*each {
		t.Fatalf("%d sends succeeded, want %d", len(sent), workers*each)
	}
	for to, m := range sent {
		exactlyOnce(t, mp, to, m)
	}
}

// The relay goes away between two emails (mailpit stopped and started
// again: its side of the pooled connection is gone). The next send notices
// on the reused connection, dials once more and the email arrives once.
func TestSendRedialsAfterRelayDisconnectMailpit(t *testing.T) {
	mp := testenv.NewMailpit(t)
	s := mailpitSender(t, mp, nil)
	first := orderMessage(t, uniqueAddress("before"))
	if _, err := s.Send(t.Context(), first); err != nil {
		t.Fatalf("first send: %v", err)
	}
	if s.idleCount() != 1 {
		t.Fatalf("idle connections = %d, want 1 to be reused", s.idleCount())
	}
	mp.Stop(t)
	mp.Start(t)

	to := uniqueAddress("after")
	second := orderMessage(t, to)
	if _, err := s.Send(t.Context(), second); err != nil {
		t.Fatalf("send over a connection the relay closed: %v (want a redial)", err)
	}
	if d := s.dials.Load(); d != 2 {
		t.Errorf("dials = %d, want 2 (the first connection, one redial)", d)
	}
	exactlyOnce(t, mp, first.Recipient, first)
	exactlyOnce(t, mp, to, second)
	// And the new connection is kept in turn.
	third := orderMessage(t, uniqueAddress("third"))
	if _, err := s.Send(t.Context(), third); err != nil {
		t.Fatalf("third send: %v", err)
	}
	if d := s.dials.Load(); d != 2 {
		t.Errorf("dials after a third send = %d, want 2", d)
	}
	exactlyOnce(t, mp, third.Recipient, third)
}

// Chaos replies on a reused connection are classified as before, never
// retried on a new connection within the send; the next send works.
func TestSendReusedConnectionChaosMailpit(t *testing.T) {
	mp := testenv.NewMailpit(t)
	s := mailpitSender(t, mp, nil)
	ctx := t.Context()
	if _, err := s.Send(ctx, orderMessage(t, uniqueAddress("warm"))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stage     string
		chaos     testenv.MailChaos
		permanent bool
	}{
		{"MAIL 451", testenv.MailChaos{Sender: testenv.MailChaosTrigger{ErrorCode: 451, Probability: 100}}, false},
		{"MAIL 550", testenv.MailChaos{Sender: testenv.MailChaosTrigger{ErrorCode: 550, Probability: 100}}, true},
		{"RCPT 421", testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 421, Probability: 100}}, false},
		{"RCPT 553", testenv.MailChaos{Recipient: testenv.MailChaosTrigger{ErrorCode: 553, Probability: 100}}, true},
	} {
		if err := mp.SetChaos(ctx, tc.chaos); err != nil {
			t.Fatal(err)
		}
		// Make sure the send runs on a reused connection.
		if s.idleCount() == 0 {
			if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(ctx, orderMessage(t, uniqueAddress("warm"))); err != nil {
				t.Fatal(err)
			}
			if err := mp.SetChaos(ctx, tc.chaos); err != nil {
				t.Fatal(err)
			}
		}
		before := s.dials.Load()
		to := uniqueAddress("chaos")
		_, err := s.Send(ctx, orderMessage(t, to))
		if err == nil || channel.IsPermanent(err) != tc.permanent {
			t.Errorf("%s: err = %v, want permanent=%v", tc.stage, err, tc.permanent)
		}
		if d := s.dials.Load() - before; d != 0 {
			t.Errorf("%s: the send dialled %d new connections, want 0 (a reply is not a closed connection)", tc.stage, d)
		}
		if msgs, err := mp.Messages(ctx, to); err != nil || len(msgs) != 0 {
			t.Errorf("%s: %d messages arrived (err %v), want 0", tc.stage, len(msgs), err)
		}
	}
	if err := mp.SetChaos(ctx, testenv.MailChaos{}); err != nil {
		t.Fatal(err)
	}
	m := orderMessage(t, uniqueAddress("ok"))
	if _, err := s.Send(ctx, m); err != nil {
		t.Fatalf("send after chaos off: %v", err)
	}
	exactlyOnce(t, mp, m.Recipient, m)
}

// relayScript is an SMTP peer in test code (plain text, no TLS) for the
// edges mailpit cannot produce on demand.
type relayScript struct {
	// closeAfterReset closes the connection right after answering RSET,
	// as a relay whose idle timeout hit would.
	closeAfterReset bool
	// dropAt: the dropAt-th message (1-based, over all connections) is
	// stored but the connection closes before the 250 after DATA: the
	// client cannot know it was accepted.
	dropAt int64
	// stallAfterData never answers the end of the data: the client waits
	// for its 250 until something closes the connection.
	stallAfterData bool
	// failReset answers RSET with 421 and closes the connection.
	failReset bool

	conns, messages, quits atomic.Int64
}

func (rs *relayScript) start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rs.conns.Add(1)
			go rs.serve(c)
		}
	}()
	return ln.Addr().String()
}

func (rs *relayScript) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 relay ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 relay")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			if rs.messages.Add(1) == rs.dropAt {
				return
			}
			if rs.stallAfterData {
				_, _ = io.Copy(io.Discard, r) // until the client closes
				return
			}
			say("250 queued")
		case strings.HasPrefix(cmd, "RSET") && rs.failReset:
			say("421 closing")
			return
		case strings.HasPrefix(cmd, "RSET"):
			say("250 reset")
			if rs.closeAfterReset {
				return
			}
		case strings.HasPrefix(cmd, "QUIT"):
			rs.quits.Add(1)
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func scriptSender(t *testing.T, addr string, mod func(*Config)) *Sender {
	t.Helper()
	cfg := baseConfig()
	cfg.Addr, cfg.TLS = addr, TLSNone
	if mod != nil {
		mod(&cfg)
	}
	s := newTestSender(t, cfg)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSendReuseEdges(t *testing.T) {
	t.Run("relay closed the idle connection: one redial, stored once", func(t *testing.T) {
		rs := &relayScript{closeAfterReset: true}
		s := scriptSender(t, rs.start(t), nil)
		for i := range 3 {
			if _, err := s.Send(t.Context(), orderMessage(t, "ada@example.com")); err != nil {
				t.Fatalf("send %d: %v", i+1, err)
			}
		}
		if m, c := rs.messages.Load(), rs.conns.Load(); m != 3 || c != 3 {
			t.Errorf("relay stored %d messages over %d connections, want 3 over 3", m, c)
		}
	})
	t.Run("connection lost after the data: not resent", func(t *testing.T) {
		rs := &relayScript{dropAt: 2}
		s := scriptSender(t, rs.start(t), nil)
		if _, err := s.Send(t.Context(), orderMessage(t, "ada@example.com")); err != nil {
			t.Fatal(err)
		}
		_, err := s.Send(t.Context(), orderMessage(t, "bob@example.com"))
		if err == nil || channel.IsPermanent(err) {
			t.Fatalf("send whose 250 never came: err = %v, want transient (the worker decides on a retry)", err)
		}
		if m, c := rs.messages.Load(), rs.conns.Load(); m != 2 || c != 1 {
			t.Errorf("relay stored %d messages over %d connections, want 2 over 1 (no resend on a new connection)", m, c)
		}
		if _, err := s.Send(t.Context(), orderMessage(t, "cy@example.com")); err != nil {
			t.Fatalf("next send: %v", err)
		}
		if c := rs.conns.Load(); c != 2 {
			t.Errorf("connections = %d, want 2 (the broken one was not pooled)", c)
		}
	})
	t.Run("idle timeout: the client quits by itself", func(t *testing.T) {
		rs := &relayScript{}
		s := scriptSender(t, rs.start(t), func(c *Config) { c.IdleTimeout = 20 * time.Millisecond })
		if _, err := s.Send(t.Context(), orderMessage(t, "ada@example.com")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, "the idle connection to be closed with QUIT", func() bool { return s.idleCount() == 0 && rs.quits.Load() == 1 })
		if _, err := s.Send(t.Context(), orderMessage(t, "bob@example.com")); err != nil {
			t.Fatal(err)
		}
		if c := rs.conns.Load(); c != 2 {
			t.Errorf("connections = %d, want 2", c)
		}
	})
	t.Run("reuse off: a connection per message", func(t *testing.T) {
		rs := &relayScript{}
		s := scriptSender(t, rs.start(t), func(c *Config) { c.IdleTimeout = -1 })
		for range 3 {
			if _, err := s.Send(t.Context(), orderMessage(t, "ada@example.com")); err != nil {
				t.Fatal(err)
			}
		}
		if c, q := rs.conns.Load(), rs.quits.Load(); c != 3 || q != 3 || s.idleCount() != 0 {
			t.Errorf("connections %d, quits %d, idle %d; want 3, 3, 0", c, q, s.idleCount())
		}
	})
	t.Run("close: idle connections quit, later sends still work unpooled", func(t *testing.T) {
		rs := &relayScript{}
		s := scriptSender(t, rs.start(t), nil)
		if _, err := s.Send(t.Context(), orderMessage(t, "ada@example.com")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, "QUIT", func() bool { return rs.quits.Load() == 1 })
		if _, err := s.Send(t.Context(), orderMessage(t, "bob@example.com")); err != nil {
			t.Fatalf("send after Close: %v", err)
		}
		if s.idleCount() != 0 {
			t.Errorf("a closed sender pooled a connection")
		}
		testwait.For(t, "the second QUIT", func() bool { return rs.quits.Load() == 2 })
	})
	// The context carries the worker's lease; go-mail's own timeout (here
	// ten minutes) would let the conversation outlive it, and another
	// worker could then send the same delivery.
	t.Run("context ends mid-conversation: the connection is closed", func(t *testing.T) {
		rs := &relayScript{stallAfterData: true}
		s := scriptSender(t, rs.start(t), func(c *Config) { c.Timeout = 10 * time.Minute })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := s.Send(ctx, orderMessage(t, "ada@example.com"))
			done <- err
		}()
		testwait.For(t, "the relay to have the data", func() bool { return rs.messages.Load() == 1 })
		cancel()
		select {
		case err := <-done:
			if err == nil || channel.IsPermanent(err) {
				t.Fatalf("send cut by its context: err = %v, want transient", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Send did not return after its context ended")
		}
		if n := s.idleCount(); n != 0 {
			t.Errorf("the cut connection was pooled (%d idle)", n)
		}
	})
	t.Run("cancelled context: nothing sent", func(t *testing.T) {
		rs := &relayScript{}
		s := scriptSender(t, rs.start(t), nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Send(ctx, orderMessage(t, "ada@example.com")); err == nil || channel.IsPermanent(err) {
			t.Errorf("send with a cancelled context: err = %v, want transient", err)
		}
		if m := rs.messages.Load(); m != 0 {
			t.Errorf("relay stored %d messages", m)
		}
	})
}

func TestLoadConfigIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
	}{{"", DefaultIdleTimeout}, {"0", -1}, {"2m", 2 * time.Minute}} {
		v := config.New(func(k string) string {
			if k == "HERALD_SMTP_IDLE_TIMEOUT" {
				return tc.env
			}
			return ""
		})
		c := LoadConfig(v)
		if err := v.Err(); err != nil || c.IdleTimeout != tc.want {
			t.Errorf("HERALD_SMTP_IDLE_TIMEOUT=%q: %v (err %v), want %v", tc.env, c.IdleTimeout, err, tc.want)
		}
	}
}
