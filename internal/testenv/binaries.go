package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Binaries builds every binary of cmd/ once per test process, so tests run
// exactly what ships, and returns the folder holding them (named as their
// cmd/ folders). Main removes it; a later process sweeps it when this one
// was killed first.
func Binaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := newDir("bin")
		if err != nil {
			binErr = err
			return
		}
		registerStop(func() { _ = os.RemoveAll(dir) })
		cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/...: %w\n%s", err, out)
			return
		}
		binDir = dir
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}
