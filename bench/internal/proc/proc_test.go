package proc

import (
	"net"
	"os"
	"regexp"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Errorf("memory %+v: want 0 < RSS <= Peak", m)
	}
	// Burn CPU until the counter (10 ms ticks) moves; a reader that never
	// sees it move fails at the deadline.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x ^= i * i
		}
		cpu, err := ReadCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if cpu > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU still %v after 10s of work (%d)", cpu, x)
		}
	}
	if _, err := ReadMemory(-1); err == nil {
		t.Error("ReadMemory(-1) succeeded")
	}
	if la := LoadAverage(); !regexp.MustCompile(`^[0-9.]+ [0-9.]+ [0-9.]+$`).MatchString(la) {
		t.Errorf("LoadAverage() = %q", la)
	}
}

// The test process listens on a port; ListenerPID finds it, and TreeCPU
// counts at least its own CPU time.
func TestListenerAndTree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pid, err := ListenerPID(l.Addr().(*net.TCPAddr).Port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("ListenerPID = %d, %v; want %d", pid, err, os.Getpid())
	}
	own, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := TreeCPU(pid)
	if err != nil || tree < own {
		t.Fatalf("TreeCPU = %v, %v; own CPU %v", tree, err, own)
	}
}
