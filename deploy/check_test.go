package deploy

import (
	"fmt"
	"maps"
	"net"
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
	if _, err := os.Stat(filepath.Join(binaries(t), c.Binary)); err != nil {
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
	addr, ok := c.Env["HERALD_HTTP_ADDR"]
	if !ok {
		addr = vars["HERALD_HTTP_ADDR"]
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("HERALD_HTTP_ADDR %q: %v", addr, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("HERALD_HTTP_ADDR %q listens on %s only: nothing outside the container reaches it", addr, host)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatalf("HERALD_HTTP_ADDR %q: port: %v", addr, err)
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
