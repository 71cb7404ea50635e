package kafka_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testConfig keeps retry backoff short; nothing asserts on time.
// PublishTimeout (also the producer's request and delivery timeout) stays
// generous: a broker slowed by a loaded machine must not fail a publish. Only
// the stopped-broker case waits it out.
func testConfig(brokers []string) kafka.Config {
	return kafka.Config{
		Brokers:        brokers,
		Partitions:     3,
		PublishTimeout: 15 * time.Second,
		RetryMin:       50 * time.Millisecond,
		RetryMax:       500 * time.Millisecond,
		CommitInterval: 200 * time.Millisecond,
	}
}

func newBroker(t *testing.T, brokers []string) stream.Broker {
	t.Helper()
	return streamtest.Open(t, kafka.New, testConfig(brokers))
}

func TestContract(t *testing.T) {
	streamtest.Run(t,
		func(t *testing.T) stream.Broker { return newBroker(t, testenv.Kafka(t).Brokers) },
		streamtest.Options{
			Stoppable: func(t *testing.T) (stream.Broker, func(*testing.T)) {
				k := testenv.NewKafka(t)
				return newBroker(t, k.Brokers), func(t *testing.T) { k.Stop(t) }
			},
		})
}
