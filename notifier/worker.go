package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
)

// Backoff is a capped exponential retry schedule.
type Backoff struct {
	Base time.Duration // delay after the first failed attempt
	Max  time.Duration // cap
}

// Delay returns the wait after the attempt-th failed attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Worker sends due deliveries from the database. Rows are claimed in a short
// transaction that flips them to SENDING with a lease (next_attempt_at), and
// the send happens outside any transaction, so a slow relay holds no locks
// and, on SQLite, not the single connection. On PostgreSQL the claim uses
// FOR UPDATE SKIP LOCKED, so any number of workers (in any number of
// processes) never claim the same row; on SQLite run one worker per database.
// A worker that dies mid-send leaves a SENDING row whose lease expires and is
// claimed again: at-least-once, with a stable Message-ID.
type Worker struct {
	DB      *entnotifier.Client
	Dialect string // ent dialect name (dialect.Postgres enables SKIP LOCKED)
	Email   EmailSender
	Logger  *slog.Logger
	Backoff Backoff
	Lease   time.Duration // how long a claim lasts; must exceed a send's timeout
	Poll    time.Duration // fallback poll interval
	Batch   int
	Now     func() time.Time

	wake chan struct{}
}

// Wake asks the worker to look for due rows now. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wakeCh() <- struct{}{}:
	default:
	}
}

func (w *Worker) wakeCh() chan struct{} {
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	return w.wake
}

// Init prepares the wake-up channel; call it before sharing the worker
// between goroutines.
func (w *Worker) Init() *Worker {
	w.wakeCh()
	return w
}

// Run polls until ctx ends. Database and send errors are logged and retried
// at the next poll: they pause sending, they never lose a row.
func (w *Worker) Run(ctx context.Context) error {
	wake := w.wakeCh()
	t := time.NewTicker(w.poll())
	defer t.Stop()
	for {
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.Logger.Error("delivery worker", "error", err)
		}
		if err == nil && n >= w.batch() {
			continue // more may be due right now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due deliveries and sends them. It returns how
// many rows it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	claimed, err := w.claim(ctx)
	if err != nil {
		return 0, err
	}
	for _, d := range claimed {
		if err := w.deliver(ctx, d, d.NextAttemptAt); err != nil {
			return len(claimed), err
		}
	}
	return len(claimed), nil
}

// claim flips due rows to SENDING and counts the attempt.
func (w *Worker) claim(ctx context.Context) ([]*entnotifier.Delivery, error) {
	now := w.now()
	tx, err := w.DB.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin claim: %w", err)
	}
	q := tx.Delivery.Query().
		Where(
			delivery.StatusIn(delivery.StatusPENDING, delivery.StatusRETRYING, delivery.StatusSENDING),
			delivery.NextAttemptAtLTE(now),
		).
		Order(delivery.ByNextAttemptAt()).
		Limit(w.batch())
	if w.Dialect == dialect.Postgres {
		q = q.ForUpdate(sql.WithLockAction(sql.SkipLocked))
	}
	rows, err := q.All(ctx)
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("select due deliveries: %w", err)
	}
	lease := now.Add(w.lease())
	for _, d := range rows {
		if d.Status == delivery.StatusSENDING {
			w.Logger.Warn("reclaiming delivery whose lease expired", "delivery_id", d.ID, "attempts", d.Attempts)
		}
		d.Attempts++
		d.Status = delivery.StatusSENDING
		d.NextAttemptAt = lease
		if err := tx.Delivery.UpdateOneID(d.ID).
			SetStatus(delivery.StatusSENDING).
			SetAttempts(d.Attempts).
			SetNextAttemptAt(lease).
			Exec(ctx); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("claim delivery %s: %w", d.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit claim: %w", err)
	}
	return rows, nil
}

// deliver sends one claimed row and records the outcome. The update is
// guarded by (status SENDING, attempts): if the lease expired and another
// worker re-claimed the row, this outcome is stale and is dropped.
//
// Every send must end before the claim's lease does, or another worker could
// send the same row: the send's context carries the lease as its deadline,
// and a row whose lease is nearly over is not started (it is claimed again
// once the lease expires).
func (w *Worker) deliver(ctx context.Context, d *entnotifier.Delivery, leaseUntil time.Time) error {
	log := w.Logger.With("delivery_id", d.ID, "event_id", d.EventID, "order_id", d.OrderID, "channel", d.Channel, "attempt", d.Attempts)
	if w.now().After(leaseUntil.Add(-w.lease() / 4)) {
		log.Info("lease nearly over before sending; leaving the row to be claimed again")
		return nil
	}
	var (
		msgID   string
		sendErr error
	)
	switch d.Channel {
	case delivery.ChannelEmail:
		sendCtx, cancel := context.WithDeadline(ctx, leaseUntil)
		msgID, sendErr = w.Email.Send(sendCtx, OutgoingEmail{
			DeliveryID: d.ID.String(), To: d.Recipient, Subject: d.Subject, Text: d.Body, HTML: d.HTMLBody,
		})
		cancel()
	default:
		sendErr = &SendError{Permanent: true, Err: fmt.Errorf("channel %s cannot send yet", d.Channel)}
	}
	if sendErr != nil && ctx.Err() != nil {
		// Shutting down: leave the claim to expire and be retried.
		return ctx.Err()
	}

	upd := w.DB.Delivery.Update().Where(
		delivery.ID(d.ID), delivery.StatusEQ(delivery.StatusSENDING), delivery.Attempts(d.Attempts),
	)
	now := w.now()
	switch {
	case sendErr == nil:
		upd.SetStatus(delivery.StatusSENT).SetSentAt(now).SetMessageID(msgID).SetLastError("")
		log.Info("delivery sent", "recipient", maskRecipient(string(d.Channel), d.Recipient), "message_id", msgID)
	case IsPermanent(sendErr):
		upd.SetStatus(delivery.StatusFAILED).SetLastError(truncate(sendErr.Error(), 2000))
		log.Warn("delivery failed permanently", "recipient", maskRecipient(string(d.Channel), d.Recipient), "error", sendErr)
	default:
		next := now.Add(w.Backoff.Delay(d.Attempts))
		upd.SetStatus(delivery.StatusRETRYING).SetNextAttemptAt(next).SetLastError(truncate(sendErr.Error(), 2000))
		log.Warn("delivery will be retried", "recipient", maskRecipient(string(d.Channel), d.Recipient), "next_attempt_at", next, "error", sendErr)
	}
	n, err := upd.Save(ctx)
	if err != nil {
		return fmt.Errorf("record outcome of delivery %s: %w", d.ID, err)
	}
	if n == 0 {
		log.Warn("delivery outcome dropped: the claim expired and the row was claimed again")
	}
	return nil
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

func (w *Worker) batch() int {
	if w.Batch <= 0 {
		return 16
	}
	return w.Batch
}

func (w *Worker) lease() time.Duration {
	if w.Lease <= 0 {
		return 2 * time.Minute
	}
	return w.Lease
}

func (w *Worker) poll() time.Duration {
	if w.Poll <= 0 {
		return 2 * time.Second
	}
	return w.Poll
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
