package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/bench/internal/routerproc"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/backend"
)

// The floor is a plain Go fan-out server: this binary re-executed with
// floorEnv=1. It tails the same topic on the same broker through the same
// internal/stream code as the router's hub, decodes each event once, renders
// the same JSON the router sends for the benchmark's selection, and hands it
// to every matching subscriber's bounded queue, drained by one writer
// goroutine per connection over the same WebSocket library
// (github.com/coder/websocket) or an SSE response. No GraphQL parsing,
// planning or resolving: what is left is what the machine needs to move one
// event to N sockets.
const (
	floorEnv       = "SUBBENCH_FLOOR_SERVER"
	floorStreamEnv = "SUBBENCH_FLOOR_STREAM"
	floorNATSEnv   = "SUBBENCH_FLOOR_NATS_URL"
	floorKafkaEnv  = "SUBBENCH_FLOOR_KAFKA_BROKERS"
	floorTopicEnv  = "SUBBENCH_FLOOR_TOPIC"
	floorOrdersEnv = "SUBBENCH_FLOOR_ORDERS_URL" // set: fetch each event's order from this subgraph
	floorQueue     = 256                         // as the router's default HERALD_ROUTER_SUBSCRIPTION_BUFFER
)

type floorServer struct {
	ctx    context.Context
	orders string // subgraph URL for the order of each event; empty: none
	mu     sync.RWMutex
	subs   map[*floorSub]struct{}
	active atomic.Int64
}

// floorSub is one subscriber. Its queue is a slice grown on demand (bounded
// by floorQueue) rather than a channel of that capacity allocated up front:
// an idle subscriber costs a few words, not 256 slice headers.
type floorSub struct {
	user string
	id   string // graphql-transport-ws operation id; empty for SSE

	mu      sync.Mutex
	pending [][]byte
	wake    chan struct{} // capacity 1
	once    sync.Once
	gone    chan struct{}
}

func newFloorSub(user, id string) *floorSub {
	return &floorSub{user: user, id: id, wake: make(chan struct{}, 1), gone: make(chan struct{})}
}

func (s *floorSub) close() { s.once.Do(func() { close(s.gone) }) }

// push queues msg; false when the queue is full.
func (s *floorSub) push(msg []byte) bool {
	s.mu.Lock()
	if len(s.pending) >= floorQueue {
		s.mu.Unlock()
		return false
	}
	s.pending = append(s.pending, msg)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

func (s *floorSub) take() [][]byte {
	s.mu.Lock()
	p := s.pending
	s.pending = nil
	s.mu.Unlock()
	return p
}

func (f *floorServer) add(s *floorSub) {
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	f.active.Add(1)
}

func (f *floorServer) remove(s *floorSub) {
	f.mu.Lock()
	_, ok := f.subs[s]
	delete(f.subs, s)
	f.mu.Unlock()
	if ok {
		f.active.Add(-1)
	}
}

// floorStatus is the router's answer to the benchmark's selection.
type floorStatus struct {
	NotificationID string      `json:"notificationId"`
	EventID        string      `json:"eventId"`
	OrderID        string      `json:"orderId"`
	UserID         string      `json:"userId"`
	Channel        string      `json:"channel"`
	Status         string      `json:"status"`
	Attempt        int         `json:"attempt"`
	Reason         *string     `json:"reason"`
	NextAttemptAt  *time.Time  `json:"nextAttemptAt"`
	Time           time.Time   `json:"time"`
	Order          *floorOrder `json:"order,omitempty"`
}

type floorOrder struct {
	ID         string `json:"id"`
	TotalMinor int    `json:"totalMinor"`
	Currency   string `json:"currency"`
}

// fetchOrder asks the subgraph for the order once per event, as the one
// fetch a fan-out needs.
func (f *floorServer) fetchOrder(id string) (*floorOrder, error) {
	body, _ := json.Marshal(map[string]any{
		"query":     "query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Order { id totalMinor currency } } }",
		"variables": map[string]any{"representations": []map[string]string{{"__typename": "Order", "id": id}}},
	})
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.orders, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Entities []floorOrder `json:"_entities"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if len(out.Data.Entities) != 1 {
		return nil, fmt.Errorf("%d entities", len(out.Data.Entities))
	}
	return &out.Data.Entities[0], nil
}

func (f *floorServer) dispatch(m stream.Message) {
	var ev events.NotificationStatus
	if _, err := events.Decode(m, events.TypeNotificationStatus, &ev); err != nil {
		return
	}
	st := floorStatus{NotificationID: ev.NotificationID, EventID: ev.EventID, OrderID: ev.OrderID, UserID: ev.UserID,
		Channel: ev.Channel, Status: ev.Status, Attempt: ev.Attempt, NextAttemptAt: ev.NextAttemptAt, Time: ev.Time}
	if ev.Reason != "" {
		st.Reason = &ev.Reason
	}
	if f.orders != "" {
		o, err := f.fetchOrder(ev.OrderID)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor: order fetch:", err)
			return
		}
		st.Order = o
	}
	var payload struct {
		Data struct {
			NotificationStatus floorStatus `json:"notificationStatus"`
		} `json:"data"`
	}
	payload.Data.NotificationStatus = st
	data, err := json.Marshal(payload)
	if err != nil {
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for s := range f.subs {
		if s.user != "" && s.user != ev.UserID {
			continue
		}
		var msg []byte
		if s.id != "" {
			msg = fmt.Appendf(nil, `{"id":%q,"type":"next","payload":%s}`, s.id, data)
		} else {
			msg = fmt.Appendf(nil, "event: next\ndata: %s\n\n", data)
		}
		if !s.push(msg) {
			s.close() // too slow: the router would close it too
		}
	}
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type subscribePayload struct {
	Query     string `json:"query"`
	Variables struct {
		UserID string `json:"userId"`
	} `json:"variables"`
}

func (f *floorServer) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsProtocol}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	var m wsMessage
	read := func() error {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		m = wsMessage{}
		return json.Unmarshal(b, &m)
	}
	if err := read(); err != nil || m.Type != "connection_init" {
		return
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_ack"}`)); err != nil {
		return
	}
	if err := read(); err != nil || m.Type != "subscribe" || m.ID == "" {
		return
	}
	var p subscribePayload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return
	}
	s := newFloorSub(p.Variables.UserID, m.ID)
	f.add(s)
	defer f.remove(s)
	go func() { // reader: pings, complete, close
		defer s.close()
		for read() == nil {
			if m.Type == "ping" {
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
			} else if m.Type == "complete" {
				return
			}
		}
	}()
	for {
		select {
		case <-s.wake:
			for _, msg := range s.take() {
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Write(wctx, websocket.MessageText, msg)
				wcancel()
				if err != nil {
					return
				}
			}
		case <-s.gone:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (f *floorServer) serveSSE(w http.ResponseWriter, r *http.Request) {
	var p subscribePayload
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	s := newFloorSub(p.Variables.UserID, "")
	f.add(s)
	defer f.remove(s)
	for {
		select {
		case <-s.wake:
			for _, msg := range s.take() {
				if _, err := w.Write(msg); err != nil {
					return
				}
			}
			fl.Flush()
		case <-s.gone:
			return
		case <-r.Context().Done():
			return
		case <-f.ctx.Done():
			return
		}
	}
}

// floorMain runs the floor server until SIGTERM. It prints "ready <url>"
// once it reads the topic.
func floorMain(stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintln(stderr, "floor:", err)
		return 1
	}
	cfg := backend.Config{Kind: os.Getenv(floorStreamEnv), NATSURL: os.Getenv(floorNATSEnv)}
	if v := os.Getenv(floorKafkaEnv); v != "" {
		cfg.KafkaBrokers = strings.Split(v, ",")
	}
	topic := os.Getenv(floorTopicEnv)
	broker, err := backend.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail(err)
	}
	defer broker.Close()
	f := &floorServer{ctx: ctx, orders: os.Getenv(floorOrdersEnv), subs: map[*floorSub]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, `{"active":%d,"goroutines":%d,"heapInuse":%d}`, f.active.Load(), runtime.NumGoroutine(), ms.HeapInuse)
	})
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
			f.serveWS(w, r)
		case r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
			f.serveSSE(w, r)
		default:
			http.Error(w, "subscriptions only", http.StatusBadRequest)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	ready := make(chan struct{})
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- broker.Tail(ctx, topic, func() { close(ready) }, f.dispatch)
	}()
	select {
	case <-ready:
	case err := <-tailDone:
		return fail(fmt.Errorf("tail ended before ready: %v", err))
	case <-ctx.Done():
		return 0
	case <-time.After(60 * time.Second):
		return fail(errors.New("tail not ready within 60s"))
	}
	fmt.Fprintf(stdout, "ready http://%s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

// floorProc is the running floor server.
type floorProc struct {
	cmd  *exec.Cmd
	base string
	done chan error
	logs *os.File
}

// startFloor re-executes this binary as the floor server and waits for its
// "ready" line.
func startFloor(ctx context.Context, logPath string, st *streamSetup, topic, ordersURL string) (*floorProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(routerproc.BaseEnv(), floorEnv+"=1", floorStreamEnv+"="+st.cfg.Kind, floorTopicEnv+"="+topic,
		floorNATSEnv+"="+st.cfg.NATSURL, floorKafkaEnv+"="+strings.Join(st.cfg.KafkaBrokers, ","), floorOrdersEnv+"="+ordersURL)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &floorProc{cmd: cmd, done: make(chan error, 1), logs: logf}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	select {
	case l, ok := <-line:
		if ok && strings.HasPrefix(l, "ready ") {
			p.base = strings.TrimPrefix(l, "ready ")
			return p, nil
		}
		p.stop()
		data, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("floor server did not start: %q; stderr:\n%s", l, data)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	case <-time.After(90 * time.Second):
		p.stop()
		return nil, errors.New("floor server not ready within 90s")
	}
}

func (p *floorProc) pid() int { return p.cmd.Process.Pid }

// exited tells whether the floor server has ended.
func (p *floorProc) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

func (p *floorProc) stop() error {
	defer p.logs.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("floor server did not stop within 15s of SIGTERM: killed")
	}
}

// stats reads the floor's count of registered subscribers and its Go
// runtime figures.
func (p *floorProc) stats(ctx context.Context) (serverStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/stats", nil)
	if err != nil {
		return serverStats{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return serverStats{}, err
	}
	defer resp.Body.Close()
	var st struct {
		Active     int64   `json:"active"`
		Goroutines float64 `json:"goroutines"`
		HeapInuse  float64 `json:"heapInuse"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return serverStats{active: st.Active, goroutines: st.Goroutines, heapInuse: st.HeapInuse}, err
}
