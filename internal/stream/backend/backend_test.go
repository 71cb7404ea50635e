package backend_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/backend"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    backend.Config
		wantErr []string // substrings of the joined error
	}{
		{
			name: "defaults",
			want: backend.Config{Kind: "nats", KafkaBrokers: []string{"127.0.0.1:9092"}, NATSURL: "nats://127.0.0.1:4222"},
		},
		{
			name: "kafka",
			env:  map[string]string{"HERALD_STREAM": "kafka", "HERALD_KAFKA_BROKERS": "a:9092, b:9093", "HERALD_STREAM_PARTITIONS": "6"},
			want: backend.Config{Kind: "kafka", KafkaBrokers: []string{"a:9092", "b:9093"}, NATSURL: "nats://127.0.0.1:4222", Partitions: 6},
		},
		{
			name: "embedded nats",
			env:  map[string]string{"HERALD_NATS_EMBEDDED_DIR": ".run/nats", "HERALD_NATS_SYNC_INTERVAL": "1s"},
			want: backend.Config{Kind: "nats", KafkaBrokers: []string{"127.0.0.1:9092"}, NATSURL: "nats://127.0.0.1:4222", NATSEmbeddedDir: ".run/nats", NATSSyncInterval: time.Second},
		},
		{
			name:    "every problem at once",
			env:     map[string]string{"HERALD_STREAM": "rabbit", "HERALD_STREAM_PARTITIONS": "-1", "HERALD_STREAM_REPLICAS": "-1", "HERALD_KAFKA_MIN_INSYNC_REPLICAS": "-2", "HERALD_NATS_URL": "::bad"},
			wantErr: []string{"HERALD_STREAM:", "HERALD_STREAM_PARTITIONS", "HERALD_STREAM_REPLICAS", "HERALD_KAFKA_MIN_INSYNC_REPLICAS", "HERALD_NATS_URL"},
		},
		{
			name: "kafka replication",
			env:  map[string]string{"HERALD_STREAM": "kafka", "HERALD_STREAM_REPLICAS": "5", "HERALD_KAFKA_MIN_INSYNC_REPLICAS": "3"},
			want: backend.Config{Kind: "kafka", KafkaBrokers: []string{"127.0.0.1:9092"}, NATSURL: "nats://127.0.0.1:4222", Replicas: 5, KafkaMinInsyncReplicas: 3},
		},
		{
			name:    "more in sync than replicas",
			env:     map[string]string{"HERALD_STREAM": "kafka", "HERALD_STREAM_REPLICAS": "2", "HERALD_KAFKA_MIN_INSYNC_REPLICAS": "3"},
			wantErr: []string{"HERALD_KAFKA_MIN_INSYNC_REPLICAS: 3 is more than HERALD_STREAM_REPLICAS (2)"},
		},
		{
			name:    "kafka without brokers",
			env:     map[string]string{"HERALD_STREAM": "kafka", "HERALD_KAFKA_BROKERS": " , "},
			wantErr: []string{"HERALD_KAFKA_BROKERS"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := config.New(func(k string) string { return tc.env[k] })
			got := backend.LoadConfig(v)
			err := v.Err()
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want an error naming %v, got none", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.Kind != tc.want.Kind || !slices.Equal(got.KafkaBrokers, tc.want.KafkaBrokers) || got.NATSURL != tc.want.NATSURL ||
				got.NATSEmbeddedDir != tc.want.NATSEmbeddedDir || got.NATSSyncInterval != tc.want.NATSSyncInterval ||
				got.Partitions != tc.want.Partitions || got.Replicas != tc.want.Replicas || got.KafkaMinInsyncReplicas != tc.want.KafkaMinInsyncReplicas {
				t.Errorf("LoadConfig = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// roundTrip checks an opened broker really carries a message.
func roundTrip(t *testing.T, b stream.Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	topic := streamtest.Unique("backend")
	p := streamtest.Publisher(t, ctx, b, topic)
	if err := p.Publish(ctx, stream.Message{Topic: topic, Key: "k", Value: []byte("hello")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	sub, err := b.Subscriber(stream.SubscribeOptions{Topic: topic, Group: streamtest.Unique("g")})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan string, 1)
	cctx, ccancel := context.WithCancel(ctx)
	done := streamtest.Consume(cctx, sub, got)
	streamtest.Expect(t, ctx, got, "hello", "no message within 60s")
	ccancel()
	<-done
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t *testing.T) backend.Config
	}{
		{"embedded nats", func(t *testing.T) backend.Config {
			return backend.Config{Kind: backend.NATS, NATSURL: "nats://127.0.0.1:0", NATSEmbeddedDir: filepath.Join(t.TempDir(), "nats")}
		}},
		{"external nats", func(t *testing.T) backend.Config {
			return backend.Config{Kind: backend.NATS, NATSURL: testenv.NATS(t)}
		}},
		{"kafka", func(t *testing.T) backend.Config {
			return backend.Config{Kind: backend.Kafka, KafkaBrokers: testenv.Kafka(t).Brokers}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := backend.Open(context.Background(), tc.cfg(t), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			roundTrip(t, b)
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// Closing twice is harmless; the embedded server is gone after the first.
			if err := b.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
	if _, err := backend.Open(context.Background(), backend.Config{Kind: "rabbit"}, nil); err == nil {
		t.Error("Open with an unknown kind succeeded")
	}
}

// The all-in-one binary hands the embedded broker to the router and the
// notifier, which tail a topic and read a group's lag through the wrapper,
// and to the dead-letter replay, which needs its positions.
func TestEmbeddedKeepsCapabilities(t *testing.T) {
	// Port 0: the embedded server binds a free port itself (a port reserved
	// here and closed again could be taken by a parallel test first).
	b, err := backend.Open(context.Background(), backend.Config{
		Kind: backend.NATS, NATSURL: "nats://127.0.0.1:0", NATSEmbeddedDir: t.TempDir(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.EnsureTopic(ctx, "caps"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lag(ctx, "caps", "g"); err != nil {
		t.Errorf("Lag: %v", err)
	}
	if _, ok := b.(stream.Positions); !ok {
		t.Errorf("%T has no Positions", b)
	}
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- b.Tail(ctx, "caps", func() { close(ready) }, func(stream.Message) {}) }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("Tail: %v", err)
	case <-ctx.Done():
		t.Fatal("Tail not ready within 60s")
	}
}
