package router

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/router/subscription"
)

// metrics are the router's Prometheus metrics, in a registry of their own
// (no process-wide state: several routers may run in one process).
type metrics struct {
	reg *prometheus.Registry

	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	refused          *prometheus.CounterVec
	subgraphRequests *prometheus.CounterVec
	subgraphDuration *prometheus.HistogramVec
	apq              *prometheus.CounterVec

	ops *opLabels
}

// Label values of outcomes.
const (
	outcomeOK    = "ok"
	outcomeError = "error"
)

func newMetrics(maxOperations int, subs *subscription.Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: counterVec("herald_router_requests_total",
			"GraphQL operations served over HTTP, by operation name (anonymous, other beyond the label budget) and outcome (ok, or error when the response has errors or a non-200 status).",
			"operation", "outcome"),
		requestDuration: histogramVec("herald_router_request_duration_seconds",
			"Time to serve one GraphQL operation over HTTP, by operation name.",
			"operation"),
		refused: counterVec("herald_router_refused_requests_total",
			"Operations refused before execution by a limit or policy, by extensions.code.",
			"code"),
		subgraphRequests: counterVec("herald_router_subgraph_requests_total",
			"HTTP fetches from subgraphs, by subgraph and outcome (error: transport failure, HTTP status >= 400 or a failed body read).",
			"subgraph", "outcome"),
		subgraphDuration: histogramVec("herald_router_subgraph_request_duration_seconds",
			"Time of one subgraph fetch, response body included, by subgraph.",
			"subgraph"),
		apq: counterVec("herald_router_persisted_queries_total",
			"Automatic Persisted Query lookups, by outcome (hit, miss, stored).",
			"outcome"),
		ops: &opLabels{max: maxOperations, known: make(map[string]struct{})},
	}
	m.reg.MustRegister(m.requests, m.requestDuration, m.refused, m.subgraphRequests, m.subgraphDuration, m.apq,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if subs != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_router_subscriptions_active",
			Help: "Subscriptions open now (WebSocket and SSE).",
		}, func() float64 { return float64(subs.Stats().Active) }))
		for _, c := range []struct {
			name, help string
			value      func(subscription.Stats) uint64
		}{
			{"herald_router_subscription_messages_dropped_total", "Subscription messages discarded because their subscriber did not read fast enough.",
				func(s subscription.Stats) uint64 { return s.Dropped }},
			{"herald_router_subscriptions_too_slow_total", "Subscriptions closed with SUBSCRIBER_TOO_SLOW.",
				func(s subscription.Stats) uint64 { return s.TooSlow }},
			{"herald_router_notification_events_received_total", "Notification status events read from the stream.",
				func(s subscription.Stats) uint64 { return s.Received }},
			{"herald_router_notification_events_malformed_total", "Notification status events read from the stream that could not be decoded.",
				func(s subscription.Stats) uint64 { return s.Malformed }},
		} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
				func() float64 { return float64(c.value(subs.Stats())) }))
		}
	}
	return m
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// histogramVec observes seconds in the default buckets.
func histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: prometheus.DefBuckets}, labels)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// request records one operation served over HTTP.
func (m *metrics) request(operation string, start time.Time, ok bool) {
	observe(m.requests, m.requestDuration, operation, start, ok)
}

func (m *metrics) refusal(code string) { m.refused.WithLabelValues(code).Inc() }

func (m *metrics) subgraphFetch(subgraph string, start time.Time, ok bool) {
	observe(m.subgraphRequests, m.subgraphDuration, subgraph, start, ok)
}

// observe counts one request of who by its outcome and records its duration.
func observe(count *prometheus.CounterVec, duration *prometheus.HistogramVec, who string, start time.Time, ok bool) {
	outcome := outcomeOK
	if !ok {
		outcome = outcomeError
	}
	count.WithLabelValues(who, outcome).Inc()
	duration.WithLabelValues(who).Observe(time.Since(start).Seconds())
}

func (m *metrics) persisted(outcome string) {
	if outcome != "" {
		m.apq.WithLabelValues(outcome).Inc()
	}
}

// Operation label values besides operation names.
const (
	opAnonymous = "anonymous"
	opOther     = "other"
)

// opLabels bounds the operation label: the first max distinct names seen in
// operations that parsed are kept, later ones (and requests that did not
// parse) are "other", so clients cannot grow the series without bound.
type opLabels struct {
	mu    sync.RWMutex
	max   int
	known map[string]struct{}
}

// maxOperationName bounds one label value; GraphQL names are short.
const maxOperationName = 100

func (o *opLabels) label(name string, parsed bool) string {
	switch {
	case !parsed:
		return opOther
	case name == "":
		return opAnonymous
	case len(name) > maxOperationName || name == opOther || name == opAnonymous:
		return opOther
	}
	o.mu.RLock()
	_, ok := o.known[name]
	o.mu.RUnlock()
	if ok {
		return name
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.known[name]; ok {
		return name
	}
	if len(o.known) >= o.max {
		return opOther
	}
	o.known[name] = struct{}{}
	return name
}
