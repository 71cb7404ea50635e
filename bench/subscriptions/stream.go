package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/backend"
	heraldnats "github.com/heraldhq/herald/internal/stream/nats"
	"github.com/heraldhq/herald/internal/testenv"
)

// streamSetup is the broker of one run.
type streamSetup struct {
	cfg    backend.Config // how children reach it
	broker stream.Broker
	desc   string
	stops  []func()
}

// openStream takes the broker from the environment or starts an embedded
// NATS JetStream server in dir.
func openStream(ctx context.Context, kind, dir string, getenv func(string) string) (*streamSetup, error) {
	s := &streamSetup{cfg: backend.Config{Kind: kind}}
	switch kind {
	case "kafka":
		v := getenv(testenv.EnvKafkaBrokers)
		if v == "" {
			return nil, fmt.Errorf("-stream kafka needs %s (host:port of a running broker)", testenv.EnvKafkaBrokers)
		}
		s.cfg.KafkaBrokers = strings.Split(v, ",")
		for _, b := range s.cfg.KafkaBrokers {
			if err := loopbackHostPort(b); err != nil {
				return nil, err
			}
		}
		s.desc = "Kafka at " + v + " (" + testenv.EnvKafkaBrokers + ")"
	default:
		u := getenv(testenv.EnvNATSURL)
		if u != "" {
			s.desc = "NATS JetStream at " + u + " (" + testenv.EnvNATSURL + ")"
		} else {
			// The embedded server keeps JetStream's default fsync interval
			// (2 minutes) rather than Herald's fsync-per-write: a disk
			// flush per publish is the broker's cost, not the fan-out's,
			// and on a shared machine it only adds noise.
			srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			srv, clientURL, err := heraldnats.Embedded(srvCtx, filepath.Join(dir, "nats"), 0, heraldnats.WithSyncInterval(2*time.Minute))
			if err != nil {
				cancel()
				return nil, err
			}
			s.stops = append(s.stops, func() { cancel(); srv.WaitForShutdown() })
			u = clientURL
			s.desc = "NATS JetStream embedded in the benchmark process (" + u + ", fsync every 2 min)"
		}
		pu, err := url.Parse(u)
		if err != nil {
			s.close()
			return nil, err
		}
		if err := loopbackHostPort(pu.Host); err != nil {
			s.close()
			return nil, err
		}
		s.cfg.NATSURL = u
	}
	b, err := backend.Open(ctx, s.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		s.close()
		return nil, err
	}
	s.broker = b
	s.stops = append(s.stops, func() { _ = b.Close() })
	return s, nil
}

// routerEnv is the router's stream configuration.
func (s *streamSetup) routerEnv(topic string) []string {
	env := []string{"HERALD_STREAM=" + s.cfg.Kind, "HERALD_TOPIC_NOTIFICATION_STATUS=" + topic}
	if s.cfg.Kind == "kafka" {
		return append(env, "HERALD_KAFKA_BROKERS="+strings.Join(s.cfg.KafkaBrokers, ","))
	}
	return append(env, "HERALD_NATS_URL="+s.cfg.NATSURL)
}

func (s *streamSetup) close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// loopbackHostPort refuses an address whose host is not a loopback IP.
func loopbackHostPort(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("broker %s is not on a loopback address", hostport)
	}
	return nil
}

// statusEvent is the k-th event of a run: one notification of the one
// order, PENDING, its id naming the run and the event.
func statusEvent(runID, notificationID string, user, order string, at time.Time) events.NotificationStatus {
	return events.NotificationStatus{
		NotificationID: notificationID,
		EventID:        "e-" + runID,
		OrderID:        order,
		UserID:         user,
		Channel:        events.ChannelEmail,
		Status:         events.StatusPending,
		Attempt:        0,
		Time:           at.UTC(),
	}
}

// encodeStatus is the stream message of ev, as the notifier publishes it.
func encodeStatus(topic string, ev events.NotificationStatus) (stream.Message, error) {
	return events.Encode(topic, ev.OrderID, events.Envelope{
		ID: ev.NotificationID, Source: "bench-subscriptions", Type: events.TypeNotificationStatus, Time: ev.Time,
	}, ev)
}
