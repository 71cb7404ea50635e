package notifier

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/ent/notifier/outboxevent"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/notifier/channel"
)

// Metric names, exported so tests and dashboards can refer to them.
const (
	MetricEventsConsumed   = "herald_notifier_events_consumed_total"
	MetricDeliveries       = "herald_notifier_deliveries_total"
	MetricRetries          = "herald_notifier_delivery_retries_total"
	MetricDeadLetters      = "herald_notifier_dead_letters_total"
	MetricSendDuration     = "herald_notifier_send_duration_seconds"
	MetricConsumerLag      = "herald_notifier_consumer_lag"
	MetricUsersBreaker     = "herald_notifier_users_breaker_state"
	MetricOutboxPending    = "herald_notifier_outbox_pending"
	MetricDeliveriesActive = "herald_notifier_deliveries_unfinished"
)

// Metrics are the notifier's Prometheus metrics, on a registry of their own
// (no globals: several services may run in one process). A nil *Metrics
// records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	consumedC  *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	retries    *prometheus.CounterVec
	deadLetter *prometheus.CounterVec
	sendDur    *prometheus.HistogramVec
	breaker    prometheus.Gauge
}

// NewMetrics creates the metrics and registers the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		consumedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEventsConsumed, Help: "OrderCreated messages handled, by result (recorded, duplicate, dead_lettered).",
		}, []string{"result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricDeliveries, Help: "Delivery status transitions committed (each published as a NotificationStatus event), by channel and status.",
		}, []string{"channel", "status"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRetries, Help: "Failed attempts that scheduled another attempt, by channel.",
		}, []string{"channel"}),
		deadLetter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricDeadLetters, Help: "Messages published to a dead-letter topic, by source topic.",
		}, []string{"topic"}),
		sendDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: MetricSendDuration, Help: "Duration of one send attempt at the provider, by channel and outcome (sent, transient, permanent).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel", "outcome"}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricUsersBreaker, Help: "Users-service circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
	}
	m.Registry.MustRegister(m.consumedC, m.deliveries, m.retries, m.deadLetter, m.sendDur, m.breaker,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

func (m *Metrics) consumed(result string) {
	if m != nil {
		m.consumedC.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) transitions(pub []published) {
	if m == nil {
		return
	}
	for _, p := range pub {
		m.deliveries.WithLabelValues(p.Channel, p.Status).Inc()
	}
}

func (m *Metrics) retry(ch string) {
	if m != nil {
		m.retries.WithLabelValues(ch).Inc()
	}
}

func (m *Metrics) deadLettered(topic string) {
	if m != nil {
		m.deadLetter.WithLabelValues(topic).Inc()
	}
}

func (m *Metrics) sendDuration(ch string, err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "sent"
	switch {
	case err == nil:
	case channel.IsPermanent(err):
		outcome = "permanent"
	default:
		outcome = "transient"
	}
	m.sendDur.WithLabelValues(ch, outcome).Observe(d.Seconds())
}

func (m *Metrics) breakerState(s int) {
	if m != nil {
		m.breaker.Set(float64(s))
	}
}

// stateCollector reads gauges that live elsewhere (the broker's lag, the
// database's backlog) at scrape time, each within a short timeout; a
// failing source is logged and left out of that scrape.
type stateCollector struct {
	broker      stream.Broker // nil: no lag metric
	inputs      []consumed    // topics and groups whose lag is reported
	db          *entnotifier.Client
	logger      *slog.Logger
	lagDesc     *prometheus.Desc
	outboxDesc  *prometheus.Desc
	unfinished  *prometheus.Desc
	scrapeLimit time.Duration
}

func newStateCollector(broker stream.Broker, inputs []consumed, db *entnotifier.Client, logger *slog.Logger) *stateCollector {
	return &stateCollector{
		broker: broker, inputs: inputs, db: db, logger: logger, scrapeLimit: 5 * time.Second,
		lagDesc: prometheus.NewDesc(MetricConsumerLag,
			"Messages of the topic the notifier's consumer group has not committed yet (broker end offsets minus committed offsets).",
			[]string{"topic", "group"}, nil),
		outboxDesc: prometheus.NewDesc(MetricOutboxPending,
			"NotificationStatus events written but not yet published by the outbox relay.", nil, nil),
		unfinished: prometheus.NewDesc(MetricDeliveriesActive,
			"Deliveries not yet in a final status, by row status (PENDING, DEFERRED, SENDING, RETRYING).", []string{"status"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lagDesc
	ch <- c.outboxDesc
	ch <- c.unfinished
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.scrapeLimit)
	defer cancel()
	for _, in := range c.inputs {
		if c.broker == nil {
			break
		}
		if lag, err := c.broker.Lag(ctx, in.Topic, in.Group); err != nil {
			c.logger.Warn("consumer lag unavailable", "topic", in.Topic, "err", err)
		} else {
			ch <- prometheus.MustNewConstMetric(c.lagDesc, prometheus.GaugeValue, float64(lag), in.Topic, in.Group)
		}
	}
	if n, err := c.db.OutboxEvent.Query().Where(outboxevent.StatusEQ(outboxevent.StatusPending)).Count(ctx); err != nil {
		c.logger.Warn("outbox backlog unavailable", "err", err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.outboxDesc, prometheus.GaugeValue, float64(n))
	}
	for _, s := range []delivery.Status{delivery.StatusPENDING, delivery.StatusDEFERRED, delivery.StatusSENDING, delivery.StatusRETRYING} {
		n, err := c.db.Delivery.Query().Where(delivery.StatusEQ(s)).Count(ctx)
		if err != nil {
			c.logger.Warn("delivery backlog unavailable", "err", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.unfinished, prometheus.GaugeValue, float64(n), string(s))
	}
}
