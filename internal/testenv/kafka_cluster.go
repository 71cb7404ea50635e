package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterNodeJVM keeps each of a cluster's JVMs small: three of them share a 2-core machine with
// the services under test. 320 MiB is ample for a test's few topics and idle page cache use.
var clusterNodeJVM = []string{"-Xmx320m", "-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent"}

// KafkaCluster is an Apache Kafka cluster of n KRaft nodes on loopback ports, each node both
// broker and controller (combined mode), all of them voters of the metadata quorum.
//
// Why combined nodes and not dedicated controllers: three JVMs instead of six on a 2-core test
// machine, and a kill then takes out a broker and a voter together, the harsher case (killing the
// active controller also moves partition leaders). Kafka advises dedicated controllers in
// production so that broker load cannot slow the quorum; Herald's clients see the same protocol
// either way.
type KafkaCluster struct {
	// Brokers are the bootstrap addresses of every node (host:port).
	Brokers []string
	// Dir holds one folder per node (node-1, node-2, ...).
	Dir string
	// Nodes are the nodes, Nodes[i] with node id i+1. Each is a KafkaBroker whose Kill, Stop and
	// Start act on that node alone.
	Nodes []*KafkaBroker

	adminOnce sync.Once
	client    *kgo.Client
	admin     *kadm.Client
	adminErr  error
}

// NewKafkaCluster starts a cluster of n nodes for this test alone, removed in t.Cleanup (its
// folder is kept when the test failed).
func NewKafkaCluster(t testing.TB, n int) *KafkaCluster {
	t.Helper()
	return newPrivate(t, "Kafka cluster", func(ctx context.Context) (*KafkaCluster, error) { return StartKafkaCluster(ctx, n) })
}

func (c *KafkaCluster) addrs() string  { return strings.Join(c.Brokers, ",") }
func (c *KafkaCluster) folder() string { return c.Dir }

// StartKafkaCluster formats n nodes with one cluster id and static voters, starts them together
// (a quorum needs a majority before any node is ready) and waits until metadata lists every
// broker. Close stops them and removes the folder.
func StartKafkaCluster(ctx context.Context, n int) (*KafkaCluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("Kafka cluster of %d nodes", n)
	}
	if _, err := javaPath(); err != nil {
		return nil, err
	}
	cp, err := kafkaClasspath(ctx)
	if err != nil {
		return nil, err
	}
	dir, ports, err := clusterDir("kafka-cluster", n, 2) // broker, controller
	if err != nil {
		return nil, err
	}
	nodes := make([]kafkaNode, n)
	voters := ""
	for i := range nodes {
		nodes[i] = kafkaNode{id: int32(i + 1), brokerPort: ports[2*i], controllerPort: ports[2*i+1]}
		if i > 0 {
			voters += ","
		}
		voters += nodes[i].voter()
	}
	c := &KafkaCluster{Dir: dir}
	fail := func(err error) (*KafkaCluster, error) {
		c.shutdown()
		keepDir(dir)
		return nil, fmt.Errorf("%w (folders in %s)", err, dir)
	}
	for _, node := range nodes {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node-%d", node.id))
		k := &KafkaBroker{Dir: nodeDir, LogDir: filepath.Join(nodeDir, "logs"), classpath: cp, jvm: clusterNodeJVM, private: true}
		if err := k.writeProps(node, voters, min(n, 3)); err != nil {
			return fail(err)
		}
		c.Nodes = append(c.Nodes, k)
		c.Brokers = append(c.Brokers, k.Brokers...)
	}
	clusterID := newClusterID()
	if err := c.eachNode(func(k *KafkaBroker) error { return k.format(ctx, clusterID) }); err != nil {
		return fail(err)
	}
	if err := c.eachNode(func(k *KafkaBroker) error { return k.start(ctx) }); err != nil {
		return fail(err)
	}
	if err := c.waitBrokers(ctx, n); err != nil {
		return fail(err)
	}
	return c, nil
}

// clusterDir makes a cluster's folder and picks perMember ports for each member.
func clusterDir(prefix string, members, perMember int) (string, []int, error) {
	dir, err := newDir(prefix)
	if err != nil {
		return "", nil, err
	}
	ports, err := FreePorts(perMember * members)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, ports, nil
}

// eachNode runs f on every node at once and returns the errors joined.
func (c *KafkaCluster) eachNode(f func(*KafkaBroker) error) error {
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, k := range c.Nodes {
		wg.Go(func() {
			if err := f(k); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", k.NodeID, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitBrokers waits until metadata lists want live brokers. A node whose
// process ends fails the wait at once; one still missing at the deadline is
// named, with the end of its log (a fenced broker says why there).
func (c *KafkaCluster) waitBrokers(ctx context.Context, want int) error {
	adm, err := c.adminClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, kafkaReadyTimeout)
	defer cancel()
	var missing []*KafkaBroker
	var exited error // ends the wait: a node's process is gone
	err = poll(ctx, nil, func(ctx context.Context) error {
		for _, k := range c.Nodes {
			if p := k.process(); p != nil {
				gone, why := p.exited()
				if !gone {
					continue
				}
				exited = fmt.Errorf("node %d exited: %v\n%s", k.NodeID, why, logTail(filepath.Join(k.LogDir, "server.log"), 15))
				return nil
			}
		}
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		listed := map[int32]bool{}
		for _, b := range md.Brokers {
			listed[b.NodeID] = true
		}
		missing = missing[:0]
		for _, k := range c.Nodes {
			if !listed[k.NodeID] {
				missing = append(missing, k)
			}
		}
		if len(md.Brokers) < want {
			return fmt.Errorf("metadata lists %d of %d brokers", len(md.Brokers), want)
		}
		return nil
	})
	if exited != nil {
		return exited
	}
	if err != nil {
		for _, k := range missing {
			err = fmt.Errorf("%w\nnode %d is not listed; its log ends:\n%s", err, k.NodeID, logTail(filepath.Join(k.LogDir, "server.log"), 15))
		}
	}
	return err
}

// Node returns the node with the given id (1..n); it fails the test for an unknown id.
func (c *KafkaCluster) Node(t testing.TB, id int32) *KafkaBroker {
	t.Helper()
	return member(t, "Kafka cluster node", c.Nodes, func(k *KafkaBroker) int32 { return k.NodeID }, id)
}

// member returns the member of a cluster whose key is key; it fails the test when none is.
func member[M any, K comparable](t testing.TB, what string, members []M, keyOf func(M) K, key K) M {
	t.Helper()
	for _, m := range members {
		if keyOf(m) == key {
			return m
		}
	}
	t.Fatalf("testenv: no %s %v", what, key)
	var zero M
	return zero
}

// Kill ends node id at once (SIGKILL), as a crash would; Start brings it back.
func (c *KafkaCluster) Kill(t testing.TB, id int32) { t.Helper(); c.Node(t, id).Kill(t) }

// Start restarts node id on its ports and data and waits until it answers.
func (c *KafkaCluster) Start(t testing.TB, id int32) { t.Helper(); c.Node(t, id).Start(t) }

// adminClient is one kadm client over every node's address, kept for the cluster's life: a
// request to a dead node fails over to the others.
func (c *KafkaCluster) adminClient() (*kadm.Client, error) {
	c.adminOnce.Do(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.DialTimeout(2*time.Second))
		if err != nil {
			c.adminErr = err
			return
		}
		c.client, c.admin = cl, kadm.NewClient(cl)
	})
	return c.admin, c.adminErr
}

func (c *KafkaCluster) closeAdmin() {
	if c.admin != nil {
		c.admin.Close()
	}
}

// Partitions describes every partition of topic: leader, replicas and in-sync replicas.
func (c *KafkaCluster) Partitions(ctx context.Context, topic string) (map[int32]kadm.PartitionDetail, error) {
	adm, err := c.adminClient()
	if err != nil {
		return nil, err
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	switch {
	case !ok:
		return nil, fmt.Errorf("topic %s not in metadata", topic)
	case td.Err != nil:
		return nil, fmt.Errorf("topic %s: %w", topic, td.Err)
	case len(td.Partitions) == 0:
		return nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	return td.Partitions, nil
}

// Leader returns the node leading partition of topic (-1: none right now).
func (c *KafkaCluster) Leader(ctx context.Context, topic string, partition int32) (int32, error) {
	ps, err := c.Partitions(ctx, topic)
	if err != nil {
		return -1, err
	}
	p, ok := ps[partition]
	if !ok {
		return -1, fmt.Errorf("topic %s has no partition %d", topic, partition)
	}
	return p.Leader, nil
}

// ActiveController returns the id of the metadata quorum's leader, the active controller. It
// asks with DescribeQuorum: in KRaft mode the controller id of a metadata answer names a random
// live broker, not the controller, because clients never talk to controllers.
func (c *KafkaCluster) ActiveController(ctx context.Context) (int32, error) {
	if _, err := c.adminClient(); err != nil {
		return -1, err
	}
	req := kmsg.NewPtrDescribeQuorumRequest()
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = "__cluster_metadata"
	part := kmsg.NewDescribeQuorumRequestTopicPartition()
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, c.client)
	if err != nil {
		return -1, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return -1, fmt.Errorf("describe quorum: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, errors.New("describe quorum: no metadata partition in the answer")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return -1, fmt.Errorf("describe quorum: %w", err)
	}
	if p.LeaderID < 0 {
		return -1, errors.New("describe quorum: no leader elected")
	}
	return p.LeaderID, nil
}

// WaitInSync waits until node id is a live broker again and in the in-sync replica set of
// every partition of the topics it holds a replica of: it has caught up and rejoined.
func (c *KafkaCluster) WaitInSync(t testing.TB, ctx context.Context, id int32, topics ...string) {
	t.Helper()
	waitRejoined(t, ctx, fmt.Sprintf("Kafka node %d", id), func(ctx context.Context) error {
		for _, topic := range topics {
			ps, err := c.Partitions(ctx, topic)
			if err != nil {
				return err
			}
			for n, p := range ps {
				if slices.Contains(p.Replicas, id) && !slices.Contains(p.ISR, id) {
					return fmt.Errorf("node %d not in the ISR %v of %s/%d", id, p.ISR, topic, n)
				}
			}
		}
		return nil
	})
}

// waitRejoined polls check, for up to three minutes, until a restarted server has caught up
// with its cluster.
func waitRejoined(t testing.TB, ctx context.Context, what string, check func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := poll(ctx, nil, check); err != nil {
		t.Fatalf("testenv: %s never rejoined: %v", what, err)
	}
}

func (c *KafkaCluster) shutdown() {
	c.closeAdmin()
	var wg sync.WaitGroup
	for _, k := range c.Nodes {
		wg.Go(k.shutdown)
	}
	wg.Wait()
}

// Close stops every node and removes the cluster's folder.
func (c *KafkaCluster) Close() error {
	c.shutdown()
	return removeDir(c.Dir)
}
