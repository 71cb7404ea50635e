package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

const wsProtocol = "graphql-transport-ws"

// statusSelection asks only the event's own fields: no `order { … }`, so no
// subgraph fetch is in the measured path (-selection status).
const statusSelection = `subscription BenchStatus($userId: ID) {
  notificationStatus(userId: $userId) {
    notificationId eventId orderId userId channel status attempt reason nextAttemptAt time
  }
}`

// orderSelection adds the order, resolved by an entity fetch from the bench
// subgraph (-selection order).
const orderSelection = `subscription BenchStatusOrder($userId: ID) {
  notificationStatus(userId: $userId) {
    notificationId eventId orderId userId channel status attempt reason nextAttemptAt time
    order { id totalMinor currency }
  }
}`

// fleet is N subscriber clients and what they received. Client i keeps, per
// tracked event (warm-up rounds, then measured events), the monotonic time it
// received it; receiving is cheap (a timestamp and an id lookup), and the
// payloads are kept to be checked after the measurement, so that checking
// does not compete with the server for CPU while it fans out.
type fleet struct {
	n, nWS int
	// token is sent by every subscriber ("" sends none): the router's
	// live status needs a signed-in caller.
	token  string
	start  time.Time // receive times are offsets from it
	ids    map[string]int
	recv   [][]atomic.Int64 // [event][client] ns since start, 0 = not received
	counts []atomic.Int32
	full   []chan struct{} // closed when every client has the event

	mu       sync.Mutex
	kept     []keptMessage // one message per client per event, for the check
	dups     int
	errs     int
	firstErr string
	unknown  int
	closed   atomic.Int32 // clients whose stream ended
	opened   atomic.Int32 // clients whose subscribe was sent
	user     string
	// withOrder: payloads must carry the bench subgraph's order.
	withOrder bool
}

// newFleet tracks the given notification ids.
func newFleet(n, nWS int, user string, ids []string) *fleet {
	f := &fleet{n: n, nWS: nWS, start: time.Now(), ids: map[string]int{}, user: user,
		recv: make([][]atomic.Int64, len(ids)), counts: make([]atomic.Int32, len(ids)), full: make([]chan struct{}, len(ids))}
	for i, id := range ids {
		f.ids[id] = i
		f.recv[i] = make([]atomic.Int64, n)
		f.full[i] = make(chan struct{})
	}
	return f
}

func (f *fleet) fail(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs++
	if f.firstErr == "" {
		f.firstErr = fmt.Sprintf(format, args...)
	}
}

// ended records a client's stream that broke while the run still wanted
// it (after ctx ends every stream is closed on purpose).
func (f *fleet) ended(ctx context.Context, format string, args ...any) {
	if ctx.Err() == nil {
		f.closed.Add(1)
		f.fail(format, args...)
	}
}

var (
	idKey   = []byte(`"notificationId":"`)
	nextKey = []byte(`"type":"next"`)
)

// keptMessage is a received message: a whole graphql-transport-ws message,
// or the data of an SSE next event.
type keptMessage struct {
	ws bool
	b  []byte
}

// received records one message that client got at t: a graphql-transport-ws
// next message, or an SSE next event's data.
func (f *fleet) received(client int, t time.Time, payload []byte, ws bool) {
	i := bytes.Index(payload, idKey)
	if i < 0 {
		f.fail("client %d: a message without notificationId: %.300s", client, payload)
		return
	}
	rest := payload[i+len(idKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		f.fail("client %d: malformed message: %.300s", client, payload)
		return
	}
	ev, ok := f.ids[string(rest[:j])]
	if !ok {
		f.mu.Lock()
		f.unknown++
		f.mu.Unlock()
		return
	}
	ns := max(t.Sub(f.start).Nanoseconds(), 1)
	if !f.recv[ev][client].CompareAndSwap(0, ns) {
		f.mu.Lock()
		f.dups++
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	f.kept = append(f.kept, keptMessage{ws: ws, b: payload})
	f.mu.Unlock()
	if f.counts[ev].Add(1) == int32(f.n) {
		close(f.full[ev])
	}
}

// check verifies every kept payload is a clean answer for the fleet's user.
func (f *fleet) check() {
	f.mu.Lock()
	kept := f.kept
	f.kept = nil
	f.mu.Unlock()
	for _, k := range kept {
		p := k.b
		if k.ws {
			var m wsMessage
			if err := json.Unmarshal(p, &m); err != nil || m.Type != "next" || m.ID != "1" {
				f.fail("unexpected message %.300s (%v)", p, err)
				continue
			}
			p = m.Payload
		}
		var got struct {
			Data struct {
				NotificationStatus struct {
					NotificationID string `json:"notificationId"`
					UserID         string `json:"userId"`
					OrderID        string `json:"orderId"`
					Status         string `json:"status"`
					Channel        string `json:"channel"`
					Order          *struct {
						ID         string `json:"id"`
						TotalMinor int    `json:"totalMinor"`
						Currency   string `json:"currency"`
					} `json:"order"`
				} `json:"notificationStatus"`
			} `json:"data"`
			Errors json.RawMessage `json:"errors"`
		}
		if err := json.Unmarshal(p, &got); err != nil {
			f.fail("undecodable payload %.300s: %v", p, err)
			continue
		}
		ns := got.Data.NotificationStatus
		bad := len(got.Errors) > 0 || ns.UserID != f.user || ns.Status != "PENDING" || ns.Channel != "EMAIL"
		if f.withOrder {
			bad = bad || ns.Order == nil || ns.Order.ID != ns.OrderID || ns.Order.TotalMinor != benchOrderTotal || ns.Order.Currency != benchOrderCurrency
		} else {
			bad = bad || ns.Order != nil
		}
		if bad {
			f.fail("unexpected payload %.300s", p)
		}
	}
}

// latency returns client i's publish→receive time of event ev, sent at
// sent; ok is false when it has not received it.
func (f *fleet) latency(ev, client int, sent time.Time) (time.Duration, bool) {
	ns := f.recv[ev][client].Load()
	if ns == 0 {
		return 0, false
	}
	return f.start.Add(time.Duration(ns)).Sub(sent), true
}

// connect opens every client (bounded concurrency) against base (the
// server's http://host:port) and returns once each has sent its subscribe
// message. Clients then read until ctx ends.
func (f *fleet) connect(ctx context.Context, base string, concurrency int, wg *sync.WaitGroup) error {
	httpc := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: concurrency,
		DisableCompression:  true,
	}}
	query := statusSelection
	if f.withOrder {
		query = orderSelection
	}
	vars, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]string{"userId": f.user}})
	sem := make(chan struct{}, concurrency)
	errc := make(chan error, 1)
	var opening sync.WaitGroup
	for i := range f.n {
		select {
		case sem <- struct{}{}:
		case err := <-errc:
			opening.Wait()
			return err
		case <-ctx.Done():
			opening.Wait()
			return ctx.Err()
		}
		opening.Add(1)
		wg.Add(1)
		sseClient := i >= f.nWS
		go func() {
			defer wg.Done()
			opened := func(err error) {
				<-sem
				if err != nil {
					select {
					case errc <- fmt.Errorf("client %d: %w", i, err):
					default:
					}
				} else {
					f.opened.Add(1)
				}
				opening.Done()
			}
			if sseClient {
				f.runSSE(ctx, httpc, base, i, vars, opened)
			} else {
				f.runWS(ctx, httpc, base, i, vars, opened)
			}
		}()
	}
	opening.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (f *fleet) runWS(ctx context.Context, httpc *http.Client, base string, i int, payload []byte, opened func(error)) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql",
		&websocket.DialOptions{HTTPClient: httpc, Subprotocols: []string{wsProtocol}})
	if err != nil {
		cancel()
		opened(err)
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	init := []byte(`{"type":"connection_init","payload":{}}`)
	if f.token != "" {
		init = []byte(`{"type":"connection_init","payload":{"Authorization":"Bearer ` + f.token + `"}}`)
	}
	err = c.Write(dctx, websocket.MessageText, init)
	if err == nil {
		var b []byte
		if _, b, err = c.Read(dctx); err == nil && !bytes.Contains(b, []byte(`"connection_ack"`)) {
			err = fmt.Errorf("first message %.200s, want connection_ack", b)
		}
	}
	if err == nil {
		err = c.Write(dctx, websocket.MessageText, fmt.Appendf(nil, `{"id":"1","type":"subscribe","payload":%s}`, payload))
	}
	cancel()
	opened(err)
	if err != nil {
		return
	}
	for {
		_, b, err := c.Read(ctx)
		t := time.Now()
		if err != nil {
			f.ended(ctx, "ws client %d: connection ended: %v", i, err)
			return
		}
		if bytes.Contains(b, nextKey) {
			f.received(i, t, b, true)
			continue
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			f.fail("ws client %d: %v in %.200s", i, err, b)
			continue
		}
		switch m.Type {
		case "ping":
			_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case "pong":
		default:
			f.fail("ws client %d: %.300s", i, b)
			if m.Type == "complete" || m.Type == "error" {
				f.closed.Add(1)
				return
			}
		}
	}
}

func (f *fleet) runSSE(ctx context.Context, httpc *http.Client, base string, i int, payload []byte, opened func(error)) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(payload))
	if err != nil {
		opened(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		opened(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		opened(fmt.Errorf("SSE: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type")))
		return
	}
	opened(nil)
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	event := ""
	for {
		line, err := r.ReadSlice('\n')
		t := time.Now()
		if err != nil {
			f.ended(ctx, "sse client %d: stream ended: %v", i, err)
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			event = ""
		case line[0] == ':':
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			data := bytes.Clone(bytes.TrimPrefix(line[len("data:"):], []byte(" ")))
			if event == "next" {
				f.received(i, t, data, false)
			} else {
				f.fail("sse client %d: event %q: %.300s", i, event, data)
				if event == "complete" {
					f.closed.Add(1)
					return
				}
			}
		}
	}
}
