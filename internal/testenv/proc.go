package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Proc is a child process whose output goes to a log file and which dies with us: Pdeathsig
// makes the kernel SIGKILL it when this process exits without cleaning up (panic, timeout,
// kill), so no server, Java or PostgreSQL is left running. Every process the tests and the
// benchmarks start (infrastructure and Herald's services alike) is one.
type Proc struct {
	Name    string // for messages
	LogPath string // its stdout and stderr

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// StartProc starts cmd with stdout and stderr appended to logPath. cred, when set, runs it as
// another user.
func StartProc(name string, cmd *exec.Cmd, logPath string, cred *syscall.Credential) (*Proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	// Pdeathsig fires when the OS thread that forked the child exits, not the process: keep this
	// goroutine on its thread while forking so the runtime cannot retire the thread under it.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	logFile.Close() // the child has its own copy
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	gone, _ := p.exited()
	return gone
}

// exited reports whether the process has ended, with its wait error.
func (p *Proc) exited() (bool, error) {
	select {
	case <-p.done:
		if p.waitErr == nil {
			return true, errors.New("exited with status 0")
		}
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Signal sends sig, waits up to grace, then kills. It returns once the process is gone,
// false when it had to be killed.
func (p *Proc) Signal(sig os.Signal, grace time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// Err is how the process ended (nil for exit status 0, or while it runs).
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
		return nil
	}
}

// Stop asks the process to drain (SIGTERM) and waits for it, killing it after 20 s.
func (p *Proc) Stop() { p.Signal(syscall.SIGTERM, 20*time.Second) }

// Kill ends the process at once (SIGKILL), as a crash would.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Tail is the end of the process's log, at most n bytes, for error messages.
func (p *Proc) Tail(n int) string { return tailFile(p.LogPath, n) }

// WaitHTTP polls url until check accepts the answer (status and body), the process exits
// (an error: whatever answers on its port then is not it) or ctx ends. It returns the last
// problem with the log's tail.
func (p *Proc) WaitHTTP(ctx context.Context, url string, check func(status int, body []byte) error) error {
	if err := poll(ctx, p, httpCheck(url, check)); err != nil {
		return fmt.Errorf("%s at %s: %w\n%s", p.Name, url, err, p.Tail(4096))
	}
	return nil
}

// WaitHTTP polls url until check accepts the answer (status and body) or ctx ends, for a
// server that is not a Proc (one running in this process).
func WaitHTTP(ctx context.Context, url string, check func(status int, body []byte) error) error {
	return poll(ctx, nil, httpCheck(url, check))
}

func httpCheck(url string, check func(status int, body []byte) error) func(context.Context) error {
	return func(ctx context.Context) error {
		status, body, err := httpGet(ctx, url)
		if err != nil {
			return err
		}
		return check(status, body)
	}
}

// httpGet GETs url and returns the status and the body (its first MiB).
func httpGet(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// GetJSON decodes the JSON answer to a GET of url (an HTTP status other than 200 is an error).
// Bound it with ctx.
func GetJSON(ctx context.Context, url string, out any) error {
	status, body, err := httpGet(ctx, url)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, status)
	}
	return json.Unmarshal(body, out)
}

// StatusOK is a WaitHTTP check that wants 200.
func StatusOK(status int, _ []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d", status)
	}
	return nil
}

// Environ is this process's environment without HERALD_* variables (a developer's settings
// must not change a test), plus vars in a stable order.
func Environ(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// tailFile returns the last n bytes of a file.
func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// logTail returns the last lines of a log file, for error messages.
func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// poll calls ready until it succeeds, the process dies, or ctx ends; it returns the last error.
func poll(ctx context.Context, p *Proc, ready func(context.Context) error) error {
	var last error
	for {
		if p != nil {
			if gone, err := p.exited(); gone {
				return fmt.Errorf("%s exited: %v", p.Name, err)
			}
		}
		attempt, cancel := context.WithTimeout(ctx, 3*time.Second)
		last = ready(attempt)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(150 * time.Millisecond):
		}
	}
}
