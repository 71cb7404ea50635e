package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaReadyTimeout bounds one broker start; a busy 2-core machine needs far less, but a cold
// JVM beside a parallel build can be slow.
const kafkaReadyTimeout = 90 * time.Second

// JVM flags. The broker gets Kafka's own start-script GC settings with a 512 MiB heap; the
// one-shot storage format only needs to start fast (C1 only, serial GC).
var (
	brokerJVM = []string{"-Xmx512m", "-Xms256m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent"}
	formatJVM = []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}
)

// KafkaBroker is one Apache Kafka node (KRaft, combined broker and controller): a single-node
// cluster of its own (NewKafka, StartKafka) or one node of a KafkaCluster.
type KafkaBroker struct {
	// Brokers are the bootstrap addresses (host:port) for clients.
	Brokers []string
	// Dir holds the broker's data, config and logs (empty for a broker given by environment).
	Dir string
	// LogDir holds server.log, controller.log and stdout.log.
	LogDir string
	// NodeID is the KRaft node id (1 for a single broker; 1..n in a KafkaCluster).
	NodeID int32

	private bool // started for one test: Stop/Start/Kill are allowed

	mu        sync.Mutex
	classpath string
	jvm       []string // heap and GC flags of the broker process
	props     string
	proc      *Proc
}

var sharedKafka shared[*KafkaBroker]

// Kafka returns the broker shared by this test process: the one named by
// HERALD_TEST_KAFKA_BROKERS, else one started on first use. Do not stop it; use unique topic
// names (franz-go refuses a topic re-created under a known name).
func Kafka(t testing.TB) *KafkaBroker {
	t.Helper()
	if v := os.Getenv(EnvKafkaBrokers); v != "" {
		return &KafkaBroker{Brokers: splitList(v)}
	}
	return sharedKafka.get(t, "Kafka", EnvKafkaBrokers, func(ctx context.Context) (*KafkaBroker, func(), error) {
		k, err := StartKafka(ctx)
		if err != nil {
			return nil, nil, err
		}
		return k, func() { _ = k.Close() }, nil
	})
}

// NewKafka starts a broker for this test alone, removed in t.Cleanup. Its Stop, Kill and Start
// restart it on the same ports and data, as a broker outage would.
func NewKafka(t testing.TB) *KafkaBroker {
	t.Helper()
	return newPrivate(t, "private Kafka", func(ctx context.Context) (*KafkaBroker, error) {
		k, err := StartKafka(ctx)
		if err == nil {
			k.private = true
		}
		return k, err
	})
}

func (k *KafkaBroker) addrs() string  { return strings.Join(k.Brokers, ",") }
func (k *KafkaBroker) folder() string { return k.Dir }

// StartKafka formats and starts a fresh single-node broker on free loopback ports and waits until
// it answers metadata requests. Close stops it and removes its folder. The Kafka jars come from
// tools/kafka/pom.xml through Maven (cached in the local Maven repository).
func StartKafka(ctx context.Context) (*KafkaBroker, error) {
	if _, err := javaPath(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	cp, err := kafkaClasspath(ctx)
	if err != nil {
		return nil, err
	}
	tClasspath := time.Since(t0)
	dir, err := newDir("kafka")
	if err != nil {
		return nil, err
	}
	k := &KafkaBroker{Dir: dir, LogDir: filepath.Join(dir, "logs"), classpath: cp}
	if err := k.configure(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	t1 := time.Now()
	if err := k.format(ctx, newClusterID()); err != nil {
		keepDir(dir)
		return nil, fmt.Errorf("%w (logs in %s)", err, k.LogDir)
	}
	t2 := time.Now()
	if err := k.start(ctx); err != nil {
		keepDir(dir)
		return nil, fmt.Errorf("%w (logs in %s)", err, k.LogDir)
	}
	// Where the start-up time goes, for whoever tunes it.
	_ = os.WriteFile(filepath.Join(k.LogDir, "testenv-timing.log"), fmt.Appendf(nil,
		"classpath %s\nformat %s\nstart-to-ready %s\n", tClasspath, t2.Sub(t1), time.Since(t2)), 0o644)
	return k, nil
}

// configure picks the ports of a single node and writes server.properties.
func (k *KafkaBroker) configure() error {
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	n := kafkaNode{id: 1, brokerPort: ports[0], controllerPort: ports[1]}
	return k.writeProps(n, n.voter(), 1)
}

// kafkaNode is one node's identity and ports in a KRaft quorum.
type kafkaNode struct {
	id                         int32
	brokerPort, controllerPort int
}

func (n kafkaNode) broker() string { return fmt.Sprintf("127.0.0.1:%d", n.brokerPort) }

// voter is the node's entry in controller.quorum.voters.
func (n kafkaNode) voter() string {
	return fmt.Sprintf("%d@127.0.0.1:%d", n.id, n.controllerPort)
}

// writeProps writes server.properties for node n of a quorum with the given static voters;
// replicas is how many copies the broker's internal topics keep (the node count, up to 3).
func (k *KafkaBroker) writeProps(n kafkaNode, voters string, replicas int) error {
	if err := os.MkdirAll(k.LogDir, 0o755); err != nil {
		return err
	}
	broker := n.broker()
	controller := fmt.Sprintf("127.0.0.1:%d", n.controllerPort)
	k.Brokers = []string{broker}
	k.NodeID = n.id
	k.props = filepath.Join(k.Dir, "server.properties")
	// Internal topics (offsets, transactions, share state) keep `replicas` copies; with three,
	// two must acknowledge a write, as Herald's own topics ask of a cluster.
	minISR := 1
	if replicas >= 3 {
		minISR = 2
	}
	// Static voters (not --standalone with controller.quorum.bootstrap.servers): every node
	// is both controller and broker, so the quorum is fixed and needs no bootstrap.
	props := strings.Join([]string{
		"process.roles=broker,controller",
		fmt.Sprintf("node.id=%d", n.id),
		"controller.quorum.voters=" + voters,
		"listeners=PLAINTEXT://" + broker + ",CONTROLLER://" + controller,
		"advertised.listeners=PLAINTEXT://" + broker,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"log.dirs=" + filepath.Join(k.Dir, "data"),
		fmt.Sprintf("offsets.topic.replication.factor=%d", replicas),
		fmt.Sprintf("transaction.state.log.replication.factor=%d", replicas),
		fmt.Sprintf("transaction.state.log.min.isr=%d", minISR),
		fmt.Sprintf("share.coordinator.state.topic.replication.factor=%d", replicas),
		fmt.Sprintf("share.coordinator.state.topic.min.isr=%d", minISR),
		// Tests join groups constantly: no 3 s wait for more members, and a smaller offsets
		// topic so the first group does not wait for 50 partitions to be created.
		"group.initial.rebalance.delay.ms=0",
		"offsets.topic.num.partitions=10",
		"num.partitions=1",
		"",
	}, "\n")
	return os.WriteFile(k.props, []byte(props), 0o644)
}

// javaArgs builds a java command line; jvm holds the heap and GC flags.
func (k *KafkaBroker) javaArgs(jvm []string, mainClass string, args ...string) []string {
	root, _ := repoRoot()
	out := append(jvm[:len(jvm):len(jvm)],
		"-Djava.awt.headless=true",
		"-Dkafka.logs.dir="+k.LogDir,
		"-Dlog4j2.configurationFile="+filepath.Join(root, "tools", "kafka", "log4j2.xml"),
		"-cp", k.classpath,
		mainClass,
	)
	return append(out, args...)
}

// newClusterID returns a random KRaft cluster id (16 bytes, URL-safe base64).
func newClusterID() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// format writes the KRaft metadata of cluster clusterID into the node's data folder.
func (k *KafkaBroker) format(ctx context.Context, clusterID string) error {
	java, err := javaPath()
	if err != nil {
		return err
	}
	// "--cluster-id=<id>" in one argument: a URL-safe base64 id starts with
	// '-' one time in 64, and the tool's parser then takes it for an option.
	cmd := exec.CommandContext(ctx, java, k.javaArgs(formatJVM, "kafka.tools.StorageTool",
		"format", "--cluster-id="+clusterID, "--config", k.props)...)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(k.LogDir, "format.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("format Kafka storage: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start runs the broker and waits until it answers.
func (k *KafkaBroker) start(ctx context.Context) error {
	java, err := javaPath()
	if err != nil {
		return err
	}
	jvm := k.jvm
	if jvm == nil {
		jvm = brokerJVM
	}
	cmd := exec.Command(java, k.javaArgs(jvm, "kafka.Kafka", k.props)...)
	cmd.Dir = k.Dir
	p, err := StartProc("kafka", cmd, filepath.Join(k.LogDir, "stdout.log"), nil)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.proc = p
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, kafkaReadyTimeout)
	defer cancel()
	if err := waitKafka(ctx, p, k.Brokers); err != nil {
		p.Kill()
		return fmt.Errorf("Kafka: %w\n%s", err, logTail(filepath.Join(k.LogDir, "server.log"), 15))
	}
	return nil
}

// waitKafka polls until the broker lists itself in a metadata answer.
func waitKafka(ctx context.Context, p *Proc, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	return poll(ctx, p, func(ctx context.Context) error {
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(md.Brokers) == 0 {
			return errors.New("metadata lists no broker yet")
		}
		if md.Controller < 0 {
			return errors.New("metadata names no controller yet")
		}
		return nil
	})
}

// process is the broker's newest process (nil before the first start).
func (k *KafkaBroker) process() *Proc {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.proc
}

// Stop shuts the broker down cleanly (SIGTERM), keeping its data and ports for Start.
func (k *KafkaBroker) Stop(t testing.TB) {
	t.Helper()
	k.mustBePrivate(t, "Stop")
	k.shutdown()
}

// Kill ends the broker at once (SIGKILL), as a crash would; Start brings it back.
func (k *KafkaBroker) Kill(t testing.TB) {
	t.Helper()
	k.mustBePrivate(t, "Kill")
	if p := k.process(); p != nil {
		p.Kill()
	}
}

// Start restarts a stopped broker on the same ports and data folder and waits until it answers.
func (k *KafkaBroker) Start(t testing.TB) {
	t.Helper()
	k.mustBePrivate(t, "Start")
	if p := k.process(); p != nil {
		if gone, _ := p.exited(); !gone {
			t.Fatalf("testenv: Kafka.Start: broker %v is still running", k.Brokers)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaReadyTimeout)
	defer cancel()
	began := time.Now()
	if err := k.start(ctx); err != nil {
		t.Fatalf("testenv: restart Kafka: %v (logs in %s)", err, k.LogDir)
	}
	t.Logf("testenv: Kafka %v restarted in %s", k.Brokers, time.Since(began).Round(10*time.Millisecond))
}

func (k *KafkaBroker) mustBePrivate(t testing.TB, op string) {
	t.Helper()
	if !k.private {
		t.Fatalf("testenv: Kafka.%s needs a broker of this test's own (testenv.NewKafka), not the shared one", op)
	}
}

// shutdown stops the process, if running, and waits for it.
func (k *KafkaBroker) shutdown() {
	if p := k.process(); p != nil {
		p.Signal(syscall.SIGTERM, 30*time.Second)
	}
}

// Close stops the broker and removes its folder. It is a no-op for a broker given by environment.
func (k *KafkaBroker) Close() error {
	if k.Dir == "" {
		return nil
	}
	k.shutdown()
	return removeDir(k.Dir)
}

func javaPath() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", errors.New("java not found: install a JDK 17 (CI: .ci/run does)")
	}
	return p, nil
}

var classpathOnce struct {
	sync.Mutex
	cp string
}

// kafkaClasspath resolves the broker's jars with Maven from tools/kafka/pom.xml. The answer is
// cached in a file keyed by the pom's hash, so later test processes skip Maven's JVM start.
func kafkaClasspath(ctx context.Context) (string, error) {
	classpathOnce.Lock()
	defer classpathOnce.Unlock()
	if classpathOnce.cp != "" {
		return classpathOnce.cp, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	pom := filepath.Join(root, "tools", "kafka", "pom.xml")
	pomBytes, err := os.ReadFile(pom)
	if err != nil {
		return "", fmt.Errorf("Kafka pom: %w", err)
	}
	sum := sha256.Sum256(pomBytes)
	base, err := baseDir()
	if err != nil {
		return "", err
	}
	cacheFile := filepath.Join(base, "kafka-classpath-"+hex.EncodeToString(sum[:8])+".txt")
	if b, err := os.ReadFile(cacheFile); err == nil && classpathUsable(string(b)) {
		classpathOnce.cp = strings.TrimSpace(string(b))
		return classpathOnce.cp, nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", errors.New("mvn not found: install Maven (CI: .ci/run does)")
	}
	tmp := fmt.Sprintf("%s.%d.tmp", cacheFile, os.Getpid())
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-Dstyle.color=never", "-f", pom, "dependency:build-classpath", "-Dmdep.outputFile="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("resolve Kafka classpath with Maven: %w: %s", err, strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(tmp)
	if err != nil {
		return "", err
	}
	if !classpathUsable(string(b)) {
		os.Remove(tmp)
		return "", fmt.Errorf("unusable Kafka classpath from Maven: %q", b)
	}
	if err := os.Rename(tmp, cacheFile); err != nil {
		return "", err
	}
	classpathOnce.cp = strings.TrimSpace(string(b))
	return classpathOnce.cp, nil
}

// classpathUsable checks that every jar is still in the local Maven repository.
func classpathUsable(cp string) bool {
	cp = strings.TrimSpace(cp)
	if cp == "" || !strings.Contains(cp, "kafka_2.13") {
		return false
	}
	for _, jar := range filepath.SplitList(cp) {
		if _, err := os.Stat(jar); err != nil {
			return false
		}
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
