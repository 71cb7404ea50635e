package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/statusevent"
)

// DefaultStatusRetention is how long status history is kept when
// Config.StatusRetention is not set (HERALD_STATUS_RETENTION's default).
const DefaultStatusRetention = 7 * 24 * time.Hour

// historyCleaner deletes status history rows older than Retention. The
// published status outbox rows are deleted by the outbox relay itself with
// the same retention (outbox.Config.Retention). Deliveries and the inbox are
// kept: they are what makes a redelivered event a duplicate.
type historyCleaner struct {
	DB        *entnotifier.Client
	Retention time.Duration
	Every     time.Duration // how often to look; default min(Retention, 5m)
	Batch     int           // rows per delete statement; default 1000
	Logger    *slog.Logger
	Now       func() time.Time
}

// Run cleans at start and then every Every until ctx ends. A failure is
// logged and tried again next time: old history never blocks delivery.
func (h *historyCleaner) Run(ctx context.Context) error {
	every := h.Every
	if every <= 0 {
		every = min(h.Retention, 5*time.Minute)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := h.CleanOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			h.Logger.Error("status history cleanup", "error", err)
		case n > 0:
			h.Logger.Info("status history cleaned up", "deleted", n, "retention", h.Retention.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// CleanOnce deletes every status history row older than the retention, in
// batches so that no statement holds many row locks (or, on SQLite, the one
// connection) for long. It returns how many rows it deleted.
func (h *historyCleaner) CleanOnce(ctx context.Context) (int, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	cutoff := now().UTC().Add(-h.Retention)
	batch := h.Batch
	if batch <= 0 {
		batch = 1000
	}
	total := 0
	for {
		ids, err := h.DB.StatusEvent.Query().Where(statusevent.AtLT(cutoff)).Limit(batch).IDs(ctx)
		if err != nil {
			return total, fmt.Errorf("select old status events: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := h.DB.StatusEvent.Delete().Where(statusevent.IDIn(ids...)).Exec(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete old status events: %w", err)
		}
		if len(ids) < batch {
			return total, nil
		}
	}
}
