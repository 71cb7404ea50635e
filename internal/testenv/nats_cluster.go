package testenv

import (
	"context"
	"debug/buildinfo"
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

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerModule is the nats-server our module already depends on (the embedded server);
// NATSCluster builds its main package into <repo>/.bin, so the processes run the same version.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// NATSCluster is a JetStream cluster of nats-server processes on loopback ports. They are
// processes, not servers embedded in the test, so that a kill is a real SIGKILL: nothing gets to
// flush, close sockets or say goodbye to its peers.
type NATSCluster struct {
	// URL lists every server's client URL, comma-separated, as HERALD_NATS_URL takes it.
	URL string
	// Dir holds one folder per server (n1, n2, ...): config, JetStream store and log.
	Dir string
	// Servers are the servers, named n1..nN (the names stream info reports).
	Servers []*NATSNode

	connOnce sync.Once
	nc       *natsgo.Conn
	js       jetstream.JetStream
	connErr  error
}

// NATSNode is one server of a NATSCluster.
type NATSNode struct {
	Name string
	URL  string // nats://127.0.0.1:port
	Dir  string

	bin     string
	config  string
	monitor string // base URL of the monitoring endpoint (/jsz)
	mu      sync.Mutex
	proc    *Proc
}

// NewNATSCluster starts a cluster of n servers for this test alone, removed in t.Cleanup (its
// folder is kept when the test failed).
func NewNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	return newPrivate(t, "NATS cluster", func(ctx context.Context) (*NATSCluster, error) { return StartNATSCluster(ctx, n) })
}

func (c *NATSCluster) addrs() string  { return c.URL }
func (c *NATSCluster) folder() string { return c.Dir }

// StartNATSCluster starts n JetStream servers routed to each other and waits until each of them
// answers JetStream requests (which needs an elected meta leader).
func StartNATSCluster(ctx context.Context, n int) (*NATSCluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("NATS cluster of %d servers", n)
	}
	bin, err := natsServerBinary(ctx)
	if err != nil {
		return nil, err
	}
	dir, ports, err := clusterDir("nats-cluster", n, 3) // clients, routes, monitoring
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+1])))
	}
	c := &NATSCluster{Dir: dir}
	var urls []string
	for i := range n {
		s := &NATSNode{Name: fmt.Sprintf("n%d", i+1), URL: fmt.Sprintf("nats://127.0.0.1:%d", ports[3*i]), bin: bin,
			monitor: fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+2])}
		s.Dir = filepath.Join(dir, s.Name)
		s.config = filepath.Join(s.Dir, "server.conf")
		// The default sync interval (2 min) is kept: a process kill loses nothing the kernel
		// has, and three replicas stand in for an OS crash.
		conf := fmt.Sprintf(`server_name: %q
listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
jetstream { store_dir: %q }
cluster {
  name: "herald-test"
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, s.Name, ports[3*i], ports[3*i+2], filepath.Join(s.Dir, "jetstream"), ports[3*i+1], strings.Join(routes, ", "))
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err := os.WriteFile(s.config, []byte(conf), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.Servers = append(c.Servers, s)
		urls = append(urls, s.URL)
	}
	c.URL = strings.Join(urls, ",")
	for _, s := range c.Servers {
		if err := s.launch(); err != nil {
			c.shutdown()
			keepDir(dir)
			return nil, err
		}
	}
	for _, s := range c.Servers {
		if err := s.waitReady(ctx); err != nil {
			c.shutdown()
			keepDir(dir)
			return nil, fmt.Errorf("%w (folders in %s)", err, dir)
		}
	}
	return c, nil
}

func (s *NATSNode) launch() error {
	cmd := exec.Command(s.bin, "-c", s.config)
	cmd.Dir = s.Dir
	p, err := StartProc("nats-server "+s.Name, cmd, filepath.Join(s.Dir, "server.log"), nil)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// process is the server's newest process (nil before the first start).
func (s *NATSNode) process() *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// waitReady polls until the server answers a JetStream request on its own client port.
func (s *NATSNode) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err := poll(ctx, s.process(), func(ctx context.Context) error {
		nc, err := natsgo.Connect(s.URL, natsgo.Timeout(2*time.Second), natsgo.NoReconnect())
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		_, err = js.AccountInfo(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("nats-server %s: %w\n%s", s.Name, err, logTail(filepath.Join(s.Dir, "server.log"), 15))
	}
	return nil
}

// Server returns the server with the given name; it fails the test for an unknown one.
func (c *NATSCluster) Server(t testing.TB, name string) *NATSNode {
	t.Helper()
	return member(t, "NATS cluster server", c.Servers, func(s *NATSNode) string { return s.Name }, name)
}

// Kill ends the server at once (SIGKILL); Start brings it back.
func (c *NATSCluster) Kill(t testing.TB, name string) {
	t.Helper()
	if p := c.Server(t, name).process(); p != nil {
		p.Kill()
	}
}

// Start restarts a killed server on its ports and store and waits until it answers JetStream
// requests.
func (c *NATSCluster) Start(t testing.TB, name string) {
	t.Helper()
	s := c.Server(t, name)
	if p := s.process(); p != nil {
		if gone, _ := p.exited(); !gone {
			t.Fatalf("testenv: NATSCluster.Start: %s is still running", name)
		}
	}
	began := time.Now()
	if err := s.launch(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(context.Background()); err != nil {
		t.Fatalf("testenv: restart %v", err)
	}
	t.Logf("testenv: nats-server %s restarted in %s", name, time.Since(began).Round(10*time.Millisecond))
}

// jetStream is one connection to the whole cluster, kept for its life: it moves to another
// server when the one it uses dies.
func (c *NATSCluster) jetStream() (jetstream.JetStream, error) {
	c.connOnce.Do(func() {
		c.nc, c.connErr = natsgo.Connect(c.URL, natsgo.Timeout(2*time.Second), natsgo.MaxReconnects(-1),
			natsgo.ReconnectWait(100*time.Millisecond))
		if c.connErr == nil {
			c.js, c.connErr = jetstream.New(c.nc)
		}
	})
	return c.js, c.connErr
}

// StreamCluster describes where a stream lives: its leader and replicas.
func (c *NATSCluster) StreamCluster(ctx context.Context, stream string) (*jetstream.ClusterInfo, error) {
	js, err := c.jetStream()
	if err != nil {
		return nil, err
	}
	// A request sent while the connection moves to another server can go
	// unanswered: bound each one, callers poll.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return nil, fmt.Errorf("stream %s has no cluster info", stream)
	}
	return info.Cluster, nil
}

// StreamLeader names the server leading stream ("" while it has none).
func (c *NATSCluster) StreamLeader(ctx context.Context, stream string) (string, error) {
	ci, err := c.StreamCluster(ctx, stream)
	if err != nil {
		return "", err
	}
	return ci.Leader, nil
}

// MetaLeader names the JetStream meta leader, the server that places streams and consumers (the
// counterpart of Kafka's active controller), as the first live server's /jsz reports it.
func (c *NATSCluster) MetaLeader(ctx context.Context) (string, error) {
	var errs []error
	for _, s := range c.Servers {
		var jsz struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := GetJSON(attempt, s.monitor+"/jsz", &jsz)
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
		case jsz.Meta == nil || jsz.Meta.Leader == "":
			errs = append(errs, fmt.Errorf("%s knows no meta leader", s.Name))
		default:
			return jsz.Meta.Leader, nil
		}
	}
	return "", errors.Join(errs...)
}

// WaitCurrent waits until the server leads or is a current (caught up, online) replica of every
// stream: it has rejoined.
func (c *NATSCluster) WaitCurrent(t testing.TB, ctx context.Context, name string, streams ...string) {
	t.Helper()
	waitRejoined(t, ctx, "nats-server "+name, func(ctx context.Context) error {
		for _, stream := range streams {
			ci, err := c.StreamCluster(ctx, stream)
			if err != nil {
				return err
			}
			if ci.Leader == name {
				continue
			}
			current := false
			for _, r := range ci.Replicas {
				if r.Name == name && r.Current && !r.Offline {
					current = true
				}
			}
			if !current {
				return fmt.Errorf("%s is not a current replica of %s (leader %q)", name, stream, ci.Leader)
			}
		}
		return nil
	})
}

func (c *NATSCluster) shutdown() {
	if c.nc != nil {
		c.nc.Close()
	}
	var wg sync.WaitGroup
	for _, s := range c.Servers {
		if p := s.process(); p != nil {
			wg.Go(func() { p.Signal(syscall.SIGTERM, 30*time.Second) })
		}
	}
	wg.Wait()
}

// Close stops every server and removes the cluster's folder.
func (c *NATSCluster) Close() error {
	c.shutdown()
	return removeDir(c.Dir)
}

// natsServerBinary returns <repo>/.bin/nats-server built from the nats-server version this module
// requires, building it when missing or of another version.
func natsServerBinary(ctx context.Context) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	// Test binaries carry no dependency list in their build info: ask the go command.
	list := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", natsServerModule)
	list.Dir = root
	out, err := list.Output()
	want := strings.TrimSpace(string(out))
	if err != nil || want == "" {
		return "", fmt.Errorf("nats-server: which version this module requires: %v", err)
	}
	current := func(bin string) bool {
		info, err := buildinfo.ReadFile(bin)
		return err == nil && info.Main.Path == natsServerModule && info.Main.Version == want
	}
	return toolBinary(ctx, "nats-server", current, func(goBin, binDir string) *exec.Cmd {
		// Built inside our module: the same version and dependencies as the embedded server.
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(binDir, "nats-server"), natsServerModule)
		cmd.Dir = root
		return cmd
	})
}
