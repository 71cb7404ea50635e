package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOption tunes Embedded.
type EmbeddedOption func(*embeddedConfig)

type embeddedConfig struct {
	log          *slog.Logger
	syncInterval time.Duration
}

// WithLogger sends the server's notices, warnings and errors to logger.
func WithLogger(l *slog.Logger) EmbeddedOption {
	return func(c *embeddedConfig) { c.log = l }
}

// WithSyncInterval makes the server fsync its store every d instead of on
// every write. d <= 0 keeps the default: sync always.
func WithSyncInterval(d time.Duration) EmbeddedOption {
	return func(c *embeddedConfig) { c.syncInterval = d }
}

// Embedded starts a JetStream-enabled nats-server inside this process,
// listening on 127.0.0.1:port (port 0: a free port) and storing streams under
// dir. It is the broker of the all-in-one dev binary and of tests.
//
// Durability: the server fsyncs on every write (sync_interval: always)
// unless WithSyncInterval says otherwise. JetStream's own default is a sync
// every 2 minutes, which on a single node lets an OS crash lose messages the
// server already acknowledged; Herald's outbox marks a row published on that
// acknowledgement, so it asks for the stronger setting (the cost is an fsync
// per publish, small at a dev stack's rate).
//
// The server shuts down when ctx ends; callers may also call Shutdown and
// WaitForShutdown on the returned server.
func Embedded(ctx context.Context, dir string, port int, opts ...EmbeddedOption) (*server.Server, string, error) {
	var c embeddedConfig
	for _, o := range opts {
		o(&c)
	}
	if dir == "" {
		return nil, "", errors.New("nats: embedded server needs a store directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", fmt.Errorf("nats: embedded store: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	o := &server.Options{
		ServerName: "herald-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // the host process owns signals
		SyncAlways: c.syncInterval <= 0,
	}
	if c.syncInterval > 0 {
		o.SyncInterval = c.syncInterval
	}
	s, err := server.NewServer(o)
	if err != nil {
		return nil, "", fmt.Errorf("nats: embedded server: %w", err)
	}
	if c.log != nil {
		s.SetLoggerV2(slogAdapter{c.log.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(60 * time.Second) {
		s.Shutdown()
		return nil, "", errors.New("nats: embedded server not ready within 60s")
	}
	go func() {
		<-ctx.Done()
		s.Shutdown()
	}()
	return s, s.ClientURL(), nil
}

// slogAdapter turns nats-server's printf logger into slog records.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(f string, v ...any) { a.l.Info(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
