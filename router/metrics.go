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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_router_requests_total",
			Help: "GraphQL operations served over HTTP, by operation name (anonymous, other beyond the label budget) and outcome (ok, or error when the response has errors or a non-200 status).",
		}, []string{"operation", "outcome"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_router_request_duration_seconds",
			Help:    "Time to serve one GraphQL operation over HTTP, by operation name.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_router_refused_requests_total",
			Help: "Operations refused before execution by a limit or policy, by extensions.code.",
		}, []string{"code"}),
		subgraphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_router_subgraph_requests_total",
			Help: "HTTP fetches from subgraphs, by subgraph and outcome (error: transport failure, HTTP status >= 400 or a failed body read).",
		}, []string{"subgraph", "outcome"}),
		subgraphDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_router_subgraph_request_duration_seconds",
			Help:    "Time of one subgraph fetch, response body included, by subgraph.",
			Buckets: prometheus.DefBuckets,
		}, []string{"subgraph"}),
		apq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_router_persisted_queries_total",
			Help: "Automatic Persisted Query lookups, by outcome (hit, miss, stored).",
		}, []string{"outcome"}),
		ops: &opLabels{max: maxOperations, known: make(map[string]struct{})},
	}
	m.reg.MustRegister(m.requests, m.requestDuration, m.refused, m.subgraphRequests, m.subgraphDuration, m.apq,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if subs != nil {
		stats := func() subscription.Stats { return subs.Stats() }
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "herald_router_subscriptions_active",
				Help: "Subscriptions open now (WebSocket and SSE).",
			}, func() float64 { return float64(stats().Active) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_router_subscription_messages_dropped_total",
				Help: "Subscription messages discarded because their subscriber did not read fast enough.",
			}, func() float64 { return float64(stats().Dropped) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_router_subscriptions_too_slow_total",
				Help: "Subscriptions closed with SUBSCRIBER_TOO_SLOW.",
			}, func() float64 { return float64(stats().TooSlow) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_router_notification_events_received_total",
				Help: "Notification status events read from the stream.",
			}, func() float64 { return float64(stats().Received) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "herald_router_notification_events_malformed_total",
				Help: "Notification status events read from the stream that could not be decoded.",
			}, func() float64 { return float64(stats().Malformed) }),
		)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// request records one operation served over HTTP.
func (m *metrics) request(operation string, start time.Time, ok bool) {
	outcome := outcomeOK
	if !ok {
		outcome = outcomeError
	}
	m.requests.WithLabelValues(operation, outcome).Inc()
	m.requestDuration.WithLabelValues(operation).Observe(time.Since(start).Seconds())
}

func (m *metrics) refusal(code string) { m.refused.WithLabelValues(code).Inc() }

func (m *metrics) subgraphFetch(subgraph string, start time.Time, ok bool) {
	outcome := outcomeOK
	if !ok {
		outcome = outcomeError
	}
	m.subgraphRequests.WithLabelValues(subgraph, outcome).Inc()
	m.subgraphDuration.WithLabelValues(subgraph).Observe(time.Since(start).Seconds())
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
