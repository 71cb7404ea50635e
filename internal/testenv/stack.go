package testenv

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/stack"
)

// StackConfig says where a stack's binaries are and how its services are wired.
type StackConfig struct {
	// BinDir holds the services' binaries, named as in the table (Binaries builds them).
	BinDir string
	// LogDir receives <service>.log, <service>.2.log for its second process, and so on.
	LogDir string
	// Wiring connects the services to the infrastructure and to each other. Services
	// without an address in Wiring.Addr get a port reserved for the stack's life.
	Wiring stack.Wiring
	// Without names services StartStack leaves stopped (start them with Stack.Start).
	Without []string
}

// Stack is Herald's services (the table in internal/stack) running as processes, as they
// ship. e2e and bench/pipeline start it; a test kills, restarts and adds processes through
// it.
type Stack struct {
	// Wiring is the stack's wiring with every service's address filled in.
	Wiring stack.Wiring

	bin, logDir string
	reserved    []int

	mu    sync.Mutex
	procs []*ServiceProc
	runs  map[string]int // service → processes started so far
}

// ServiceProc is one process of a service of a Stack.
type ServiceProc struct {
	*Proc
	Service stack.Service
	// HTTP is the base URL of its listener.
	HTTP string
}

// startWait bounds each service's start: patience on a loaded machine.
const startWait = 90 * time.Second

// StartStack starts the table's services (but c.Without) in start order, each once the
// ones before it answer their health path. On error it stops what it started.
func StartStack(ctx context.Context, c StackConfig) (*Stack, error) {
	s := &Stack{Wiring: c.Wiring.WithOwnAddrs(), bin: c.BinDir, logDir: c.LogDir, runs: map[string]int{}}
	for _, svc := range stack.Services {
		if s.Wiring.Addr[svc.Name] != "" {
			continue
		}
		ports, err := FreePorts(1)
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.reserved = append(s.reserved, ports[0])
		s.Wiring.Addr[svc.Name] = "127.0.0.1:" + strconv.Itoa(ports[0])
	}
	for _, svc := range stack.Services {
		if slices.Contains(c.Without, svc.Name) {
			continue
		}
		if _, err := s.Start(ctx, svc.Name); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Env is the complete HERALD_* environment of the service's processes.
func (s *Stack) Env(name string) map[string]string { return s.Wiring.Env(name) }

// Binary is the path of a service's binary.
func (s *Stack) Binary(name string) string { return filepath.Join(s.bin, name) }

// LogDir is the folder of the services' logs.
func (s *Stack) LogDir() string { return s.logDir }

// URL is the address of a service of the stack with path appended.
func (s *Stack) URL(name, path string) string { return stack.BaseURL(s.Wiring.Addr[name]) + path }

// Launch starts a process of the service without waiting for it; env overrides its
// variables (an instance beside another needs its own HERALD_HTTP_ADDR).
func (s *Stack) Launch(name string, env map[string]string) (*ServiceProc, error) {
	svc, ok := stack.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("no service %q in the stack table", name)
	}
	vars := s.Env(name)
	maps.Copy(vars, env)
	s.mu.Lock()
	s.runs[name]++
	n := s.runs[name]
	s.mu.Unlock()
	logName := name + ".log"
	if n > 1 {
		logName = fmt.Sprintf("%s.%d.log", name, n)
	}
	cmd := exec.Command(s.Binary(name))
	cmd.Env = Environ(vars)
	p, err := StartProc(name, cmd, filepath.Join(s.logDir, logName), nil)
	if err != nil {
		return nil, err
	}
	sp := &ServiceProc{Proc: p, Service: svc, HTTP: stack.BaseURL(vars["HERALD_HTTP_ADDR"])}
	s.mu.Lock()
	s.procs = append(s.procs, sp)
	s.mu.Unlock()
	return sp, nil
}

// Start launches a process of the service and waits until it is healthy.
func (s *Stack) Start(ctx context.Context, name string) (*ServiceProc, error) {
	p, err := s.Launch(name, nil)
	if err != nil {
		return nil, err
	}
	return p, p.WaitHealthy(ctx)
}

// WaitHealthy waits until the process answers its health path with 200.
func (p *ServiceProc) WaitHealthy(ctx context.Context) error {
	return p.WaitPath(ctx, p.Service.Health)
}

// WaitPath waits (at most 90 s) until the process answers path with 200.
func (p *ServiceProc) WaitPath(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	return p.WaitHTTP(ctx, p.HTTP+path, StatusOK)
}

// Proc returns the newest process of the service (nil before its first).
func (s *Stack) Proc(name string) *ServiceProc {
	ps := s.Procs(name)
	if len(ps) == 0 {
		return nil
	}
	return ps[len(ps)-1]
}

// Procs returns every process of the service started so far, oldest first.
func (s *Stack) Procs(name string) []*ServiceProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*ServiceProc
	for _, p := range s.procs {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// All returns every process started so far, oldest first.
func (s *Stack) All() []*ServiceProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.procs)
}

// Dead returns the first service whose newest process has exited, or "".
func (s *Stack) Dead() string {
	for _, svc := range stack.Services {
		if p := s.Proc(svc.Name); p != nil && p.Exited() {
			return svc.Name
		}
	}
	return ""
}

// Stop drains every process (SIGTERM, newest first, so dependents before what they call)
// and gives the stack's ports back.
func (s *Stack) Stop() {
	ps := s.All()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Stop()
	}
	ReleasePorts(s.reserved...)
	s.reserved = nil
}
