package testenv

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSServer is an embedded nats-server with JetStream, storing in its own folder.
type NATSServer struct {
	// URL is the nats:// client URL.
	URL string
	// Dir is the JetStream store.
	Dir string

	srv *server.Server
}

var sharedNATS shared[string]

// NATS returns the nats:// URL of a JetStream-enabled server: the one named by
// HERALD_TEST_NATS_URL, else one this test process starts on first use. It is shared: use
// unique stream and subject names.
func NATS(t testing.TB) string {
	t.Helper()
	if v := os.Getenv(EnvNATSURL); v != "" {
		return v
	}
	return sharedNATS.get(t, "NATS", EnvNATSURL, func(ctx context.Context) (string, func(), error) {
		s, err := StartNATS(ctx)
		if err != nil {
			return "", nil, err
		}
		return s.URL, func() { _ = s.Close() }, nil
	})
}

// NewNATS starts a JetStream server for this test alone, shut down in t.Cleanup.
func NewNATS(t testing.TB) *NATSServer {
	t.Helper()
	s, err := StartNATS(context.Background())
	if err != nil {
		unavailable(t, "NATS", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// StartNATS starts an embedded JetStream server on a free loopback port.
func StartNATS(ctx context.Context) (*NATSServer, error) {
	dir, err := newDir("nats")
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "herald-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true, // the test process owns its signals
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv.Start()
	wait := 30 * time.Second
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = time.Until(d)
	}
	if !srv.ReadyForConnections(wait) || !srv.JetStreamEnabled() {
		srv.Shutdown()
		os.RemoveAll(dir)
		return nil, errors.New("embedded nats-server with JetStream did not become ready")
	}
	return &NATSServer{URL: srv.ClientURL(), Dir: dir, srv: srv}, nil
}

// Close shuts the server down and removes its store.
func (s *NATSServer) Close() error {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	return removeDir(s.Dir)
}
