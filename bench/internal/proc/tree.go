package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stat reads the fields of /proc/<pid>/stat after the command name:
// index 1 is the parent pid, 11–14 utime, stime, cutime, cstime.
func stat(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return f, nil
}

func ticks(fields []string) time.Duration {
	var n int64
	for _, s := range fields {
		v, _ := strconv.ParseInt(s, 10, 64)
		n += v
	}
	return time.Duration(n) * time.Second / clockTick
}

// TreeCPU is the CPU time of pid and all its descendants, the ones that
// exited included (counted in their parent's cutime and cstime once
// reaped): what a server that forks per connection (PostgreSQL) costs.
func TreeCPU(pid int) (time.Duration, error) {
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := stat(p)
		if err != nil {
			continue // exited meanwhile
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var total time.Duration
	var walk func(p int, root bool) error
	walk = func(p int, root bool) error {
		f, err := stat(p)
		if err != nil {
			if root {
				return err
			}
			return nil
		}
		total += ticks(f[11:15])
		for _, c := range children[p] {
			if err := walk(c, false); err != nil {
				return err
			}
		}
		return nil
	}
	return total, walk(pid, true)
}

// ListenerPID finds the process listening on the local TCP port (IPv4 or
// IPv6), from /proc/net/tcp* and the processes' socket descriptors. It
// needs permission to read those descriptors (the same user, or root).
func ListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("no process of ours listens on port %d", port)
}
