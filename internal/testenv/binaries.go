package testenv

import (
	"context"
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
		dir, err := newDir("bin")
		if err != nil {
			binErr = err
			return
		}
		registerStop(func() { _ = os.RemoveAll(dir) })
		if binErr = BuildBinaries(context.Background(), dir); binErr == nil {
			binDir = dir
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// BuildBinaries builds the binaries of cmd/<name> for each name (every one
// of cmd/ without names) into dir.
func BuildBinaries(ctx context.Context, dir string, names ...string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if len(names) == 0 {
		args = append(args, "./cmd/...")
	}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return nil
}
