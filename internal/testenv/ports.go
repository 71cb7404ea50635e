package testenv

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
)

// held maps a reserved port to the socket that holds it.
var held = struct {
	sync.Mutex
	fds map[int]int
}{fds: map[int]int{}}

// FreePorts reserves n distinct loopback TCP ports for servers this process
// starts, and keeps them reserved until ReleasePorts (or the process ends).
//
// A reserved port is held by a socket bound to 127.0.0.1:port with
// SO_REUSEADDR that never listens. While it is held, the kernel hands the
// port to no bind(":0") and to no outgoing connection, of this process or
// another, and a connection to it is refused as when nothing runs there.
// A server that sets SO_REUSEADDR on its listener (every Go listener,
// PostgreSQL, the JVM's server sockets) binds and listens on it all the
// same. So there is no moment between picking a port and the server binding
// it in which someone else can take it, and a server killed and restarted
// finds its port still free, TIME_WAIT connections and all.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		p, err := holdPort()
		if err != nil {
			ReleasePorts(ports...)
			return nil, fmt.Errorf("reserve a port: %w", err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// Ports is FreePorts for a test: the ports are released when t ends.
func Ports(t testing.TB, n int) []int {
	t.Helper()
	ports, err := FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ReleasePorts(ports...) })
	return ports
}

// ReleasePorts ends the reservation of ports (a no-op for ports not
// reserved).
func ReleasePorts(ports ...int) {
	held.Lock()
	defer held.Unlock()
	for _, p := range ports {
		if fd, ok := held.fds[p]; ok {
			_ = syscall.Close(fd)
			delete(held.fds, p)
		}
	}
}

// holdPort binds a socket to a free loopback port, as FreePorts describes.
func holdPort() (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) {
		_ = syscall.Close(fd)
		return 0, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	held.Lock()
	held.fds[port] = fd
	held.Unlock()
	return port, nil
}
