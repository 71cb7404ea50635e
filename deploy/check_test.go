package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/testenv"
)

// container is one process a deployment file starts, reduced to what must
// agree with the binary it runs.
type container struct {
	Where  string            // names it in failures, e.g. "compose.yaml service users"
	Binary string            // the cmd/<Binary> it runs
	Args   []string          // its arguments; none means the service itself
	Env    map[string]string // its complete environment
	Ports  []int             // ports it declares (compose targets, containerPorts)
	Probes []probe           // checks the platform sends it
	Mounts []string          // paths where files are mounted into it
}

// probe is a health check: an HTTP GET of Path, or a TCP connect when Path
// is empty.
type probe struct {
	Kind string // liveness, readiness, healthcheck …
	Path string
	Port int
}

// runtimeVars are read by the Go runtime of every binary, not by Herald's
// configuration.
var runtimeVars = map[string]bool{"GOMAXPROCS": true, "GOMEMLIMIT": true, "GOGC": true, "GODEBUG": true}

// devBinary is the all-in-one development stack; no deployment runs it.
const devBinary = "herald"

// binaries returns the folder of the built cmd/ binaries: the checks run
// exactly what the images ship.
func binaries(t *testing.T) string {
	t.Helper()
	return testenv.Binaries(t)
}

// TestMain removes the binaries after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// serviceBinaries are the binaries every deployment must run: cmd/*
// except the development all-in-one.
func serviceBinaries(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("../cmd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != devBinary {
			out = append(out, e.Name())
		}
	}
	return out
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]map[string]string{}
)

// declared returns the variables binary reads and their defaults, from its
// --help: the same declarations docs/configuration.md is generated from.
func declared(t *testing.T, binary string) map[string]string {
	t.Helper()
	helpMu.Lock()
	defer helpMu.Unlock()
	if vars, ok := helpCache[binary]; ok {
		return vars
	}
	out, err := runBinary(t, binary, nil, "--help")
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", binary, err, out)
	}
	vars := config.ParseUsage(out)
	if len(vars) == 0 {
		t.Fatalf("%s --help lists no variables; has its format changed?\n%s", binary, out)
	}
	helpCache[binary] = vars
	return vars
}

// runBinary runs a built binary with exactly env (no variable of the test
// process leaks in) and returns its output.
func runBinary(t *testing.T, binary string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), binary), args...)
	cmd.Env = []string{} // not nil: nil would inherit the test's environment
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkContainers checks each container against its binary and that every
// service binary is deployed.
func checkContainers(t *testing.T, file string, cs []container) {
	t.Helper()
	deployed := map[string]bool{}
	for _, c := range cs {
		if len(c.Args) == 0 {
			deployed[c.Binary] = true
		}
		t.Run(c.Where, func(t *testing.T) { checkContainer(t, c) })
	}
	for _, b := range serviceBinaries(t) {
		if !deployed[b] {
			t.Errorf("%s runs no %s service (every cmd/ binary but %s is one)", file, b, devBinary)
		}
	}
}

func checkContainer(t *testing.T, c container) {
	if c.Binary == devBinary {
		t.Fatalf("runs %s, the development all-in-one; deploy the services", devBinary)
	}
	if !built(t, c.Binary) {
		t.Fatalf("runs %q, which is not a binary of cmd/", c.Binary)
	}
	vars := declared(t, c.Binary)
	for _, name := range slices.Sorted(maps.Keys(c.Env)) {
		if _, ok := vars[name]; !ok && !runtimeVars[name] {
			t.Errorf("sets %s, which %s does not read (`%s --help` lists what it reads)", name, c.Binary, c.Binary)
		}
		if v := c.Env[name]; strings.HasPrefix(v, "/") && !mounted(c.Mounts, v) {
			t.Errorf("%s=%s: no file is mounted there", name, v)
		}
	}
	// The binary itself judges the environment and the arguments: required
	// variables, formats, combinations, subcommands.
	args := append(slices.Clone(c.Args), config.CheckFlag)
	if out, err := runBinary(t, c.Binary, c.Env, args...); err != nil {
		t.Errorf("`%s %s` with its environment: %v\n%s", c.Binary, strings.Join(args, " "), err, out)
	}

	if len(c.Args) > 0 {
		// A one-shot command (migrate) listens on nothing.
		if len(c.Ports) > 0 || len(c.Probes) > 0 {
			t.Errorf("runs `%s %s`, which serves nothing, yet declares ports %v or probes %v", c.Binary, strings.Join(c.Args, " "), c.Ports, c.Probes)
		}
		return
	}
	addr := effective(t, c, "HERALD_HTTP_ADDR")
	host, port, err := splitAddr(addr)
	if err != nil {
		t.Fatalf("HERALD_HTTP_ADDR %q: %v", addr, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("HERALD_HTTP_ADDR %q listens on %s only: nothing outside the container reaches it", addr, host)
	}
	for _, p := range c.Ports {
		if p != port {
			t.Errorf("declares port %d, but %s listens on %s (HERALD_HTTP_ADDR)", p, c.Binary, addr)
		}
	}
	for _, p := range c.Probes {
		if p.Port != port {
			t.Errorf("%s probe goes to port %d, but %s listens on %s (HERALD_HTTP_ADDR)", p.Kind, p.Port, c.Binary, addr)
		}
	}
	checkProbePaths(t, c)
}

// built reports whether cmd/<binary> exists (and so was built).
func built(t *testing.T, binary string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(binaries(t), binary))
	return binary != "" && err == nil
}

// effective is the value the binary uses for name: the container's, or
// the declared default when unset or empty.
func effective(t *testing.T, c container, name string) string {
	t.Helper()
	if v := c.Env[name]; v != "" {
		return v
	}
	return declared(t, c.Binary)[name]
}

// httpPort is the port the container's HTTP listener binds.
func httpPort(t *testing.T, c container) int {
	t.Helper()
	_, port, err := splitAddr(effective(t, c, "HERALD_HTTP_ADDR"))
	if err != nil {
		t.Fatalf("%s: HERALD_HTTP_ADDR: %v", c.Where, err)
	}
	return port
}

func splitAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	return host, port, err
}

// sharedVars are where the services meet: each must have one value across
// the services of a deployment that read it.
var sharedVars = []string{
	"HERALD_SUBGRAPH_SECRET", "HERALD_STREAM", "HERALD_KAFKA_BROKERS", "HERALD_NATS_URL",
	"HERALD_TOPIC_ORDER_CREATED", "HERALD_TOPIC_ORDER_CANCELLED", "HERALD_TOPIC_NOTIFICATION_STATUS",
}

// checkWiring checks that the services agree on sharedVars and that the
// URLs by which they call each other reach the right service. network maps
// "host:port" as the deployment's names resolve to the binary serving there.
func checkWiring(t *testing.T, file string, cs []container, network map[string]string) {
	t.Helper()
	var serving []container
	for _, c := range cs {
		if len(c.Args) == 0 && built(t, c.Binary) { // checkContainer reports the others
			serving = append(serving, c)
		}
	}
	for _, name := range sharedVars {
		groups := map[string][]string{} // value → containers (values stay out of messages: secrets)
		for _, c := range serving {
			if _, ok := declared(t, c.Binary)[name]; ok {
				v := effective(t, c, name)
				groups[v] = append(groups[v], c.Binary)
			}
		}
		if len(groups) > 1 {
			var sets []string
			for _, v := range slices.Sorted(maps.Keys(groups)) {
				sets = append(sets, strings.Join(groups[v], ", "))
			}
			t.Errorf("%s: %s differs between services that must share it: {%s}", file, name, strings.Join(sets, "} {"))
		}
	}
	for _, c := range serving {
		if _, ok := declared(t, c.Binary)["HERALD_USERS_URL"]; ok {
			checkReach(t, c, "HERALD_USERS_URL", effective(t, c, "HERALD_USERS_URL"), "users", network)
		}
		if _, ok := declared(t, c.Binary)["HERALD_SUBGRAPHS"]; ok {
			// A subgraph is served by the binary of its name (schema/<name>.graphqls).
			for _, sg := range strings.Split(effective(t, c, "HERALD_SUBGRAPHS"), ",") {
				name, raw, _ := strings.Cut(strings.TrimSpace(sg), "=")
				if raw != "builtin" {
					checkReach(t, c, "HERALD_SUBGRAPHS", raw, name, network)
				}
			}
		}
	}
}

func checkReach(t *testing.T, c container, variable, raw, want string, network map[string]string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Errorf("%s: %s: %q is not a URL", c.Where, variable, raw)
		return
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	got, ok := network[u.Hostname()+":"+port]
	switch {
	case !ok:
		t.Errorf("%s: %s: nothing in the deployment serves %s:%s (%s)", c.Where, variable, u.Hostname(), port, raw)
	case got != want:
		t.Errorf("%s: %s: %s reaches %s, not %s", c.Where, variable, raw, got, want)
	}
}

// mounted reports whether path lies in one of the mount points.
func mounted(mounts []string, path string) bool {
	for _, m := range mounts {
		m = strings.TrimSuffix(m, "/")
		if path == m || strings.HasPrefix(path, m+"/") {
			return true
		}
	}
	return false
}

func (p probe) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s tcp :%d", p.Kind, p.Port)
	}
	return fmt.Sprintf("%s GET :%d%s", p.Kind, p.Port, p.Path)
}
