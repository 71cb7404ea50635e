package email

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Connection reuse. Dialling the relay and negotiating STARTTLS for every
// email was the largest CPU cost left in the notifier's pipeline, so the
// sender keeps the connections of finished sends (one per concurrently
// sending delivery worker, at most maxIdle) and reuses them.
//
// Safety rules, because a message must never be sent twice by the reuse:
//   - A connection is only ever used by one send at a time (taken out of
//     the pool while in use).
//   - A reused connection the relay closed while it sat idle is detected by
//     go-mail's NOOP before MAIL FROM (or by MAIL FROM failing without an
//     SMTP reply). Nothing of the message went over the wire then, so it is
//     sent once more on a fresh connection, and only once.
//   - Any other failure discards the connection and is classified as
//     before (4xx transient, 5xx permanent); the worker retries later.
//   - A connection is closed by the sender itself (QUIT) after IdleTimeout
//     unused, before the relay's own idle timeout is likely to hit it.

// maxIdle caps the idle connections kept; more only form when more sends
// than that run at once, and those are closed after their message.
const maxIdle = 8

// DefaultIdleTimeout is how long an unused relay connection is kept open.
// It stays well below the 5 minutes RFC 5321 (4.5.3.2.7) allows a server to
// wait for the next command, so a well-behaved relay rarely closes one
// first.
const DefaultIdleTimeout = 30 * time.Second

// relayConn is one relay connection: go-mail's client and the TCP
// connection under it, which can be cut while a command waits for its
// reply (the client's own Close takes a lock that command holds).
type relayConn struct {
	c   *smtp.Client
	raw net.Conn
}

type idleConn struct {
	rc    relayConn
	since time.Time
	timer *time.Timer
}

type pool struct {
	mu     sync.Mutex
	idle   []*idleConn // most recently used last
	closed bool
}

// idleTimeout is the configured reuse window; <= 0 turns reuse off.
func (s *Sender) idleTimeout() time.Duration {
	switch {
	case s.cfg.IdleTimeout < 0:
		return 0
	case s.cfg.IdleTimeout == 0:
		return DefaultIdleTimeout
	}
	return s.cfg.IdleTimeout
}

// take returns an idle connection (reused = true) or dials a new one.
func (s *Sender) take(ctx context.Context) (rc relayConn, reused bool, err error) {
	for {
		s.pool.mu.Lock()
		n := len(s.pool.idle)
		if n == 0 {
			s.pool.mu.Unlock()
			break
		}
		ic := s.pool.idle[n-1]
		s.pool.idle = s.pool.idle[:n-1]
		ic.timer.Stop()
		s.pool.mu.Unlock()
		if time.Since(ic.since) >= s.idleTimeout() {
			// Its timer is about to fire; do not race the relay's timeout.
			s.quit(ic.rc.c)
			continue
		}
		// The deadline set for the previous message may have passed while
		// it was idle; NOOP would then fail for a healthy connection.
		if err := ic.rc.c.UpdateDeadline(s.cfg.Timeout); err != nil {
			s.quit(ic.rc.c)
			continue
		}
		return ic.rc, true, nil
	}
	rc, err = s.dial(ctx)
	return rc, false, err
}

// rawConnKey carries, through go-mail's dial, where dialContext records the
// TCP connection it made.
type rawConnKey struct{}

func (s *Sender) dial(ctx context.Context) (relayConn, error) {
	var raw net.Conn
	c, err := s.client.DialToSMTPClientWithContext(context.WithValue(ctx, rawConnKey{}, &raw))
	return relayConn{c: c, raw: raw}, err
}

// dialContext is the TCP dialer of every relay connection (counted, so
// tests can tell a reused connection from a new one).
func (s *Sender) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.dials.Add(1)
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if p, ok := ctx.Value(rawConnKey{}).(*net.Conn); ok && err == nil {
		*p = conn
	}
	return conn, err
}

// put returns a healthy connection after a successful send, or closes it
// when reuse is off, the pool is full or the sender is closed.
func (s *Sender) put(rc relayConn) {
	timeout := s.idleTimeout()
	s.pool.mu.Lock()
	if s.pool.closed || timeout <= 0 || len(s.pool.idle) >= maxIdle || !rc.c.HasConnection() {
		s.pool.mu.Unlock()
		s.quit(rc.c)
		return
	}
	ic := &idleConn{rc: rc, since: time.Now()}
	ic.timer = time.AfterFunc(timeout, func() { s.expire(ic) })
	s.pool.idle = append(s.pool.idle, ic)
	s.pool.mu.Unlock()
}

// expire closes ic if it is still idle (a send may have taken it just
// before the timer fired).
func (s *Sender) expire(ic *idleConn) {
	s.pool.mu.Lock()
	for i, x := range s.pool.idle {
		if x == ic {
			s.pool.idle = append(s.pool.idle[:i], s.pool.idle[i+1:]...)
			s.pool.mu.Unlock()
			s.quit(ic.rc.c)
			return
		}
	}
	s.pool.mu.Unlock()
}

// discard drops a connection a send failed on. Its state is unknown (the
// relay may have closed it, or a reply is still pending), so it is closed
// without QUIT.
func (s *Sender) discard(c *smtp.Client) {
	_ = c.Close()
}

// quit ends a connection politely (QUIT), within a short deadline, and
// closes the socket whatever the relay answers.
func (s *Sender) quit(c *smtp.Client) {
	_ = c.UpdateDeadline(min(s.cfg.Timeout, 5*time.Second))
	if err := c.Quit(); err != nil {
		_ = c.Close()
		s.logger.Debug("smtp quit", "error", err)
	}
}

// idleCount is the number of pooled connections (tests).
func (s *Sender) idleCount() int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return len(s.pool.idle)
}

// Close ends the idle relay connections (QUIT) and stops pooling: a send
// after Close still works, on a connection of its own. Call it after the
// delivery workers stopped.
func (s *Sender) Close() error {
	s.pool.mu.Lock()
	s.pool.closed = true
	idle := s.pool.idle
	s.pool.idle = nil
	for _, ic := range idle {
		ic.timer.Stop()
	}
	s.pool.mu.Unlock()
	for _, ic := range idle {
		s.quit(ic.rc.c)
	}
	return nil
}

// closedWhileIdle reports whether err shows a reused connection that the
// relay had closed before this message: NOOP failed, or MAIL FROM failed
// without any SMTP reply. In both cases nothing of the message was
// transmitted, so sending it on a new connection cannot duplicate it.
func closedWhileIdle(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrConnCheck:
		return true
	case gomail.ErrSMTPMailFrom:
		return se.ErrorCode() == 0
	}
	return false
}
