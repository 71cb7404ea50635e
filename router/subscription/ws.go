package subscription

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wundergraph/graphql-go-tools/execution/graphql"

	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Protocol is the WebSocket subprotocol served: the graphql-ws library's
// GraphQL over WebSocket protocol.
const Protocol = "graphql-transport-ws"

// Close codes of the protocol.
const (
	closeBadRequest       websocket.StatusCode = 4400
	closeUnauthorized     websocket.StatusCode = 4401
	closeForbidden        websocket.StatusCode = 4403
	closeBadProtocol      websocket.StatusCode = 4406
	closeInitTimeout      websocket.StatusCode = 4408
	closeDuplicateID      websocket.StatusCode = 4409
	closeTooManyInitCalls websocket.StatusCode = 4429
)

// wsMessage is one protocol message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ServeWS upgrades r to a graphql-transport-ws connection and serves it until
// the client or the server ends it. engine returns the current engine (it is
// read per operation, so a reloaded supergraph applies to later operations).
// maxMessage bounds one client message.
func (s *Server) ServeWS(w http.ResponseWriter, r *http.Request, eng func() Engine, maxMessage int64) {
	s.wg.Add(1)
	defer s.wg.Done()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Protocol}, OriginPatterns: s.originPatterns})
	if err != nil {
		s.log.Debug("websocket upgrade refused", "err", err)
		return // Accept answered the client
	}
	defer c.CloseNow()
	if c.Subprotocol() != Protocol {
		_ = c.Close(closeBadProtocol, "Subprotocol not acceptable")
		return
	}
	c.SetReadLimit(maxMessage)
	ctx, cancel := s.streamContext(r.Context())
	defer cancel()
	conn := &wsConn{s: s, c: c, ctx: ctx, cancel: cancel, eng: eng, subs: map[string]*wsSub{}, upgrade: r.Header, opCtx: ctx}
	conn.serve()
}

type wsConn struct {
	s      *Server
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	eng    func() Engine
	// upgrade is the upgrade request's headers, for Authenticate.
	upgrade map[string][]string

	writeMu sync.Mutex

	mu    sync.Mutex
	acked bool
	// opCtx is what operations run in: the connection's context with the
	// caller's identity once connection_init proved it.
	opCtx context.Context
	subs  map[string]*wsSub
	wg    sync.WaitGroup
}

type wsSub struct {
	cancel context.CancelFunc
	// byClient is set when the client completed it: nothing more is sent.
	byClient bool
}

func (cn *wsConn) serve() {
	defer func() {
		cn.cancel()
		cn.wg.Wait()
	}()
	initTimer := time.AfterFunc(cn.s.cfg.InitTimeout, func() {
		cn.mu.Lock()
		acked := cn.acked
		cn.mu.Unlock()
		if !acked {
			cn.close(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()
	go cn.keepAlive()

	// Reads are not bound to cn.ctx: the library drops a connection whose
	// read context ends without a close frame. When the connection's
	// context ends, it is closed here instead: 1001 Going Away when the
	// router stops, so clients reconnect.
	defer context.AfterFunc(cn.ctx, func() {
		if cn.s.ctx.Err() != nil {
			cn.close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		_ = cn.c.CloseNow()
	})()
	readCtx := context.WithoutCancel(cn.ctx)
	initialised := false
	for {
		typ, data, err := cn.c.Read(readCtx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			cn.close(closeBadRequest, "Invalid message received")
			return
		}
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
			cn.close(closeBadRequest, "Invalid message received")
			return
		}
		switch m.Type {
		case "connection_init":
			if initialised {
				cn.close(closeTooManyInitCalls, "Too many initialisation requests")
				return
			}
			initialised = true
			if cn.s.authenticate != nil {
				ctx, refused := cn.s.authenticate(cn.ctx, m.Payload, cn.upgrade)
				if refused != nil {
					// 4403 is the protocol's refusal of connection_init;
					// the reason carries the error's code and message.
					cn.close(closeForbidden, refused.Code()+": "+refused.Message)
					return
				}
				cn.mu.Lock()
				cn.opCtx = ctx
				cn.mu.Unlock()
				cn.expireAt(ctx)
			}
			cn.mu.Lock()
			cn.acked = true
			cn.mu.Unlock()
			if !cn.send([]byte(`{"type":"connection_ack"}`)) {
				return
			}
		case "ping":
			if !cn.send([]byte(`{"type":"pong"}`)) {
				return
			}
		case "pong":
		case "subscribe":
			if !initialised {
				cn.close(closeUnauthorized, "Unauthorized")
				return
			}
			if m.ID == "" {
				cn.close(closeBadRequest, "Invalid message received: subscribe needs an id")
				return
			}
			if p := bytes.TrimSpace(m.Payload); len(p) == 0 || p[0] != '{' {
				cn.close(closeBadRequest, "Invalid message received: subscribe payload must be a JSON object")
				return
			}
			// The payload is a request object like an HTTP POST body: it
			// is read and checked by the same code, so a request refused
			// over HTTP is refused here with the same error (sent once
			// the operation's id is known to be free).
			var req graphql.Request
			refused := gqlwire.ReadRequest(m.Payload, &req, nil)
			if refused == nil {
				refused = gqlwire.ValidateRequest(&req)
			}
			if !cn.start(m.ID, &req, refused) {
				cn.close(closeDuplicateID, "Subscriber for "+m.ID+" already exists")
				return
			}
		case "complete":
			cn.mu.Lock()
			if sub, ok := cn.subs[m.ID]; ok {
				sub.byClient = true
				sub.cancel()
				delete(cn.subs, m.ID) // the id may be reused at once
			}
			cn.mu.Unlock()
		default:
			cn.close(closeBadRequest, "Invalid message received: unknown type "+m.Type)
			return
		}
	}
}

// keepAlive sends protocol pings, so idle connections through proxies stay
// open and a dead client shows up as a failed write.
func (cn *wsConn) keepAlive() {
	t := time.NewTicker(cn.s.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-cn.ctx.Done():
			return
		case <-t.C:
			if !cn.send([]byte(`{"type":"ping"}`)) {
				return
			}
		}
	}
}

func (cn *wsConn) send(b []byte) bool {
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(cn.ctx, cn.s.cfg.WriteTimeout)
	defer cancel()
	if err := cn.c.Write(ctx, websocket.MessageText, b); err != nil {
		cn.cancel() // a connection that cannot be written to is dead
		return false
	}
	return true
}

func (cn *wsConn) close(code websocket.StatusCode, reason string) {
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	_ = cn.c.Close(code, reason)
	cn.cancel()
}

// start runs one operation, or answers refused (the request object did not
// pass gqlwire's checks) with its error; false when the id is in use.
func (cn *wsConn) start(id string, req *graphql.Request, refused *gqlwire.RequestError) bool {
	cn.mu.Lock()
	if _, ok := cn.subs[id]; ok {
		cn.mu.Unlock()
		return false
	}
	ctx, cancel := context.WithCancel(cn.opCtx)
	sub := &wsSub{cancel: cancel}
	cn.subs[id] = sub
	cn.mu.Unlock()

	eng := cn.eng()
	cn.wg.Add(1)
	go func() {
		defer cn.wg.Done()
		defer cancel()
		defer func() {
			cn.mu.Lock()
			if cn.subs[id] == sub {
				delete(cn.subs, id)
			}
			cn.mu.Unlock()
		}()
		if eng == nil {
			cn.sendError(id, []gqlwire.Error{gqlwire.Coded(gqlwire.CodeUnavailable, "the router is starting: the supergraph is not composed yet")})
			return
		}
		if refused != nil {
			cn.sendError(id, []gqlwire.Error{gqlwire.Coded(gqlwire.CodeBadUserInput, refused.Message)})
			return
		}
		if cn.s.check != nil {
			if err := cn.s.check(ctx, req); err != nil {
				if errs := executionErrors(err, cn.s.log); errs != nil {
					cn.sendError(id, errs)
				}
				return
			}
		}
		cn.pump(ctx, id, sub, eng, req)
	}()
	return true
}

func (cn *wsConn) pump(ctx context.Context, id string, sub *wsSub, eng Engine, req *graphql.Request) {
	qw := cn.s.newQueueWriter()
	executed := make(chan struct{})
	go func() {
		defer close(executed)
		cn.s.execute(ctx, eng, req, qw)
	}()
	defer func() {
		sub.cancel()
		<-executed
	}()
	idJSON, _ := json.Marshal(id)
	prefix := append(append([]byte(`{"id":`), idJSON...), `,"type":"next","payload":`...)
	next := func(msg []byte) bool {
		b := make([]byte, 0, len(prefix)+len(msg)+1)
		b = append(append(append(b, prefix...), msg...), '}')
		return cn.send(b)
	}
	clientGone := func() bool {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		return sub.byClient
	}
	for {
		select {
		case msg := <-qw.q:
			if clientGone() || !next(msg) {
				return
			}
		case <-qw.done:
			if clientGone() {
				return
			}
			switch qw.kind {
			case endTooSlow:
				sub.cancel()
				cn.s.log.Warn("WebSocket subscriber too slow: closed", "id", id, "buffer", cn.s.cfg.Buffer)
				cn.sendError(id, tooSlowErrors)
				return
			case endFailed:
				if qw.errs != nil {
					cn.sendError(id, qw.errs)
				}
				return
			}
			if !qw.flushRest(next) {
				return
			}
			if cn.ctx.Err() == nil {
				cn.send(append(append([]byte(`{"id":`), idJSON...), `,"type":"complete"}`...))
			}
			return
		case <-ctx.Done():
			return
		}
	}
}

// expireAt arranges for every subscription of the connection to end with
// an UNAUTHENTICATED error when ctx's token expires, and the connection to
// close then. A timer, released with the connection: no goroutine waits
// per connection.
func (cn *wsConn) expireAt(ctx context.Context) {
	t, ok := expiresAt(ctx)
	if !ok {
		return
	}
	timer := time.AfterFunc(time.Until(t), func() {
		if cn.ctx.Err() == nil {
			cn.expire()
		}
	})
	context.AfterFunc(cn.ctx, func() { timer.Stop() })
}

func (cn *wsConn) expire() {
	cn.mu.Lock()
	ids := make([]string, 0, len(cn.subs))
	for id, sub := range cn.subs {
		sub.byClient = true // nothing more of it is sent
		sub.cancel()
		ids = append(ids, id)
	}
	cn.mu.Unlock()
	for _, id := range ids {
		cn.sendError(id, expiredErrors)
	}
	cn.close(closeForbidden, "UNAUTHENTICATED: the token has expired")
}

func (cn *wsConn) sendError(id string, errs []gqlwire.Error) {
	b, err := json.Marshal(struct {
		ID      string          `json:"id"`
		Type    string          `json:"type"`
		Payload []gqlwire.Error `json:"payload"`
	}{id, "error", errs})
	if err != nil {
		cn.s.log.Error("encode error message", "err", errors.Unwrap(err))
		return
	}
	cn.send(b)
}
