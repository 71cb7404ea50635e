package kafka

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/stream"
)

// kgoLogger sends franz-go's warnings and errors (and, when the slog logger
// is at debug, everything) to slog.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelInfo:
		l = slog.LevelInfo
	}
	k.l.Log(context.Background(), l, msg, keyvals...)
}

// clientOpts are the options every client of this broker shares.
func (b *broker) clientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(b.cfg.Brokers...),
		kgo.ClientID(b.cfg.ClientID),
		kgo.WithLogger(kgoLogger{b.log.With("client", "franz-go")}),
		// A partition without a known leader (a topic just created, a
		// leader moving) is looked up again after this, not after the
		// default 5s, which would eat half of a publish's time budget.
		kgo.MetadataMinAge(500 * time.Millisecond),
	}
}

// toMessage converts a consumed record into the stream's message type.
func toMessage(r *kgo.Record) stream.Message {
	m := stream.Message{Topic: r.Topic, Key: string(r.Key), Value: r.Value, Partition: r.Partition, Position: r.Offset}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, stream.Header{Key: h.Key, Value: string(h.Value)})
	}
	return m
}
