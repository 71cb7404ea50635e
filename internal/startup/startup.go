// Package startup lets a service start while its database or broker is
// down: it serves health and readiness at once, waits for each dependency
// with capped exponential backoff (reporting what it waits for as the
// not-ready reason) and becomes ready when they are back. A missing
// dependency is a state to report, never a reason to exit.
package startup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/httpserver"
)

// Backoff bounds the wait between attempts to reach a dependency. The cap
// keeps a returning dependency noticed within a few seconds.
var (
	MinBackoff = 200 * time.Millisecond
	MaxBackoff = 5 * time.Second
)

// Status is what a service is still waiting for, by readiness check name.
// The zero value waits for nothing.
type Status struct {
	mu      sync.Mutex
	waiting map[string]string
}

// Set records that check name waits (reason not empty) or is done (empty).
func (s *Status) Set(name, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting == nil {
		s.waiting = map[string]string{}
	}
	if reason == "" {
		delete(s.waiting, name)
		return
	}
	s.waiting[name] = reason
}

// Check is a readiness check answering not ready, with the reason, while
// name waits; then next (when not nil) decides.
func (s *Status) Check(name string, next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		s.mu.Lock()
		reason, waiting := s.waiting[name]
		s.mu.Unlock()
		if waiting {
			return &httpserver.NotReady{Reason: reason}
		}
		if next != nil {
			return next(ctx)
		}
		return nil
	}
}

// Wait calls op until it succeeds, ctx ends or op fails with an error that
// is not an unreachable dependency (apperr.Unreachable), which it returns:
// bad credentials or a schema the build refuses end start-up, an outage
// does not. While it waits, s reports name as not ready with reason.
func Wait[T any](ctx context.Context, logger *slog.Logger, s *Status, name, reason string, op func(context.Context) (T, error)) (T, error) {
	return wait(ctx, logger, s, name, reason, op, apperr.Unreachable)
}

// WaitAny is Wait retrying every error (for steps whose failures are all
// the dependency's, such as creating a topic on a broker).
func WaitAny[T any](ctx context.Context, logger *slog.Logger, s *Status, name, reason string, op func(context.Context) (T, error)) (T, error) {
	return wait(ctx, logger, s, name, reason, op, func(error) bool { return true })
}

// TopicMaker makes sure a topic exists (stream.Broker does).
type TopicMaker interface {
	EnsureTopic(ctx context.Context, topic string) error
}

// EnsureTopics waits until broker has every topic, creating those missing:
// WaitAny under check name (every failure there is the broker's). It
// returns an error only when ctx ended first.
func EnsureTopics(ctx context.Context, logger *slog.Logger, s *Status, name, reason string, broker TopicMaker, topics ...string) error {
	_, err := WaitAny(ctx, logger, s, name, reason, func(ctx context.Context) (struct{}, error) {
		for _, t := range topics {
			if err := broker.EnsureTopic(ctx, t); err != nil {
				return struct{}{}, fmt.Errorf("ensure topic %s: %w", t, err)
			}
		}
		return struct{}{}, nil
	})
	return err
}

func wait[T any](ctx context.Context, logger *slog.Logger, s *Status, name, reason string, op func(context.Context) (T, error), retryable func(error) bool) (T, error) {
	s.Set(name, reason)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = MinBackoff, MaxBackoff
	attempt := 0
	v, err := backoff.Retry(ctx, func() (T, error) {
		attempt++
		v, err := op(ctx)
		if err != nil && ctx.Err() == nil && !retryable(err) {
			return v, backoff.Permanent(err)
		}
		return v, err
	},
		backoff.WithBackOff(bo),
		backoff.WithMaxElapsedTime(0), // an outage lasts as long as it lasts
		backoff.WithNotify(func(err error, next time.Duration) {
			logger.WarnContext(ctx, "waiting for a dependency", "check", name, "reason", reason,
				"attempt", attempt, "retry_in", next.String(), "err", err.Error())
		}))
	if err != nil {
		if ctx.Err() != nil {
			return v, errors.Join(context.Cause(ctx), err)
		}
		return v, err
	}
	if attempt > 1 {
		logger.InfoContext(ctx, "dependency reached", "check", name, "attempts", attempt)
	}
	s.Set(name, "")
	return v, nil
}

// Stopped reports whether err only says that ctx ended: a service stopped
// while it waited for a dependency, which is a clean stop.
func Stopped(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && ctx.Err() != nil
}
