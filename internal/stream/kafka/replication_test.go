package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/internal/stream/kafka"
	"github.com/heraldhq/herald/internal/stream/streamtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// topicSettings reads the replica count of every partition of topic and
// its min.insync.replicas as the topic itself sets it ("" when it takes the
// broker's default).
func topicSettings(t *testing.T, ctx context.Context, brokers []string, topic string) (replicas []int, minISR string) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td[topic].Partitions.Sorted() {
		replicas = append(replicas, len(p.Replicas))
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			minISR = c.MaybeValue()
		}
	}
	return replicas, minISR
}

// TestTopicReplication: on a three-broker cluster a topic Herald creates has
// three replicas and min.insync.replicas=2, and a record published with
// acks=all is refused while only one replica is up; on a single broker the
// topic keeps one replica and the broker's default.
func TestTopicReplication(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kafka cluster; -short skips it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	t.Run("single broker", func(t *testing.T) {
		brokers := testenv.Kafka(t).Brokers
		topic := "replication-" + uuid.NewString()
		if err := newBroker(t, brokers).EnsureTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
		replicas, minISR := topicSettings(t, ctx, brokers, topic)
		if len(replicas) != 3 || replicas[0] != 1 || minISR != "" {
			t.Fatalf("replicas per partition %v, topic min.insync.replicas %q; want 1 each and the broker's default", replicas, minISR)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		c := testenv.NewKafkaCluster(t, 3)
		// One partition, so that its leader is the one broker left up below.
		cfg := testConfig(c.Brokers)
		cfg.Partitions = 1
		b := streamtest.Open(t, kafka.New, cfg)
		topic := "replication-" + uuid.NewString()
		if err := b.EnsureTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
		replicas, minISR := topicSettings(t, ctx, c.Brokers, topic)
		for _, n := range replicas {
			if n != 3 {
				t.Fatalf("replicas per partition %v, want 3 each", replicas)
			}
		}
		if minISR != "2" {
			t.Fatalf("topic min.insync.replicas %q, want 2", minISR)
		}
		t.Logf("replicas per partition %v, min.insync.replicas %s", replicas, minISR)

		pub, err := b.Publisher()
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		msg := stream.Message{Topic: topic, Key: "k", Value: []byte("v")}
		if err := pub.Publish(ctx, msg); err != nil {
			t.Fatalf("publish with three brokers up: %v", err)
		}
		// Only the leader of the key's partition stays up: acks=all cannot
		// be met, so the publish must fail rather than be acknowledged from
		// one disk.
		keep, err := c.Leader(ctx, topic, 0)
		if err != nil || keep < 0 {
			t.Fatalf("leader of %s/0: %d, %v", topic, keep, err)
		}
		for _, k := range c.Nodes {
			if k.NodeID != keep {
				c.Kill(t, k.NodeID)
			}
		}
		short, cancelShort := context.WithTimeout(ctx, 20*time.Second)
		err = pub.Publish(short, msg)
		cancelShort()
		if err == nil {
			t.Fatal("publish acknowledged with one of three replicas up (min.insync.replicas=2, acks=all)")
		}
		t.Logf("with one broker up the publish failed as it must: %v", err)
		for _, k := range c.Nodes {
			if k.NodeID != keep {
				c.Start(t, k.NodeID)
			}
		}
		for {
			err := pub.Publish(ctx, msg)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("publish after the brokers came back: %v", err)
			}
		}
	})
}
