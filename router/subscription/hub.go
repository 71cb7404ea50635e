package subscription

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/pause"
	"github.com/heraldhq/herald/internal/stream"
)

// Filter selects events; an empty field matches any value.
type Filter struct {
	OrderID string
	UserID  string
}

func (f Filter) matches(ev *events.NotificationStatus) bool {
	return (f.OrderID == "" || f.OrderID == ev.OrderID) && (f.UserID == "" || f.UserID == ev.UserID)
}

type watcher struct {
	filter Filter
	fn     func([]byte)
}

// Hub reads the NotificationStatus topic once per router instance and fans
// every event out to the watchers whose filter matches it.
type Hub struct {
	broker stream.Broker
	topic  string
	buffer int // events queued per trigger (Config.Buffer)
	log    *slog.Logger

	mu       sync.RWMutex
	watchers map[*watcher]struct{}

	ready     chan struct{}
	readyOnce sync.Once
	started   atomic.Bool

	received  atomic.Uint64
	malformed atomic.Uint64
}

// NewHub returns a hub over cfg.Topic of broker; Run starts reading.
func NewHub(broker stream.Broker, cfg Config, logger *slog.Logger) (*Hub, error) {
	logger = logging.OrDiscard(logger)
	cfg = cfg.withDefaults()
	topic := cfg.Topic
	return &Hub{
		broker:   broker,
		topic:    topic,
		buffer:   cfg.Buffer,
		log:      logger.With("component", "subscription.hub", "topic", topic),
		watchers: map[*watcher]struct{}{},
		ready:    make(chan struct{}),
	}, nil
}

// Start runs Run in the background once; later calls do nothing. A stream
// that stops for good is logged: live subscriptions then receive nothing more.
func (h *Hub) Start(ctx context.Context) {
	if h.started.Swap(true) {
		return
	}
	go func() {
		if err := h.Run(ctx); err != nil {
			h.log.Error("notification status stream stopped: live subscriptions receive nothing more", "err", err)
		}
	}()
}

// Started tells whether Start was called.
func (h *Hub) Started() bool { return h.started.Load() }

// Run ensures the topic exists and reads it from its end until ctx ends.
// A broker that is down delays it (retrying); it is not an error.
func (h *Hub) Run(ctx context.Context) error {
	if !pause.Retry(ctx, h.log, "notification status topic not available yet", func() error {
		return h.broker.EnsureTopic(ctx, h.topic)
	}) {
		return nil // ctx ended
	}
	err := h.broker.Tail(ctx, h.topic, h.markReady, h.dispatch)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("subscription: tail %s: %w", h.topic, err)
	}
	return nil
}

func (h *Hub) markReady() {
	h.readyOnce.Do(func() {
		h.log.Info("notification status stream positioned at its end")
		close(h.ready)
	})
}

// Ready is closed once the hub reads the topic: events published after
// that reach matching watchers.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Watch calls fn with the JSON of every later event matching f, until stop is
// called. fn runs on the hub's reader goroutine: it must hand the data off
// without blocking (the data source queues it per trigger).
func (h *Hub) Watch(f Filter, fn func([]byte)) (stop func()) {
	w := &watcher{filter: f, fn: fn}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.watchers, w)
			h.mu.Unlock()
		})
	}
}

// Watchers counts the distinct active filters (the engine shares one watcher
// among subscriptions with the same arguments).
func (h *Hub) Watchers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.watchers)
}

// eventPayload is what the data source hands the engine: the event's fields,
// plus an Order reference the planner resolves through the orders subgraph.
type eventPayload struct {
	Typename string `json:"__typename"`
	events.NotificationStatus
	Order orderRef `json:"order"`
}

type orderRef struct {
	Typename string `json:"__typename"`
	ID       string `json:"id"`
}

func (h *Hub) dispatch(m stream.Message) {
	h.received.Add(1)
	var ev events.NotificationStatus
	env, err := events.Decode(m, events.TypeNotificationStatus, &ev)
	if err == nil && (ev.OrderID == "" || ev.NotificationID == "") {
		err = fmt.Errorf("orderId or notificationId is empty")
	}
	if err != nil {
		// Not ours to dead-letter: the notifier owns the topic. Skip it.
		h.malformed.Add(1)
		h.log.Warn("skipping malformed notification status event", "key", m.Key, "ce_id", env.ID, "err", err)
		return
	}
	data, err := json.Marshal(eventPayload{
		Typename:           "NotificationStatusEvent",
		NotificationStatus: ev,
		Order:              orderRef{Typename: "Order", ID: ev.OrderID},
	})
	if err != nil {
		h.malformed.Add(1)
		h.log.Warn("skipping unencodable notification status event", "ce_id", env.ID, "err", err)
		return
	}
	h.mu.RLock()
	matched := make([]*watcher, 0, len(h.watchers))
	for w := range h.watchers {
		if w.filter.matches(&ev) {
			matched = append(matched, w)
		}
	}
	h.mu.RUnlock()
	for _, w := range matched {
		w.fn(data)
	}
}
