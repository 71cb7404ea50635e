package proc

import (
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
