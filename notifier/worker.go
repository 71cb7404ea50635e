package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/cenkalti/backoff/v5"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/events"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/notifier/channel"
)

// Backoff is the retry schedule: exponential from Base, capped at Max, each
// delay randomised by ±Jitter (a fraction; 0.5 means 50%–150%) so that
// deliveries failing together do not retry together.
type Backoff struct {
	Base   time.Duration // delay after the first failed attempt
	Max    time.Duration // cap (before jitter)
	Jitter float64       // randomisation factor in [0, 1)
}

// Delay returns the wait after the attempt-th failed attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	eb := &backoff.ExponentialBackOff{
		InitialInterval: b.Base, RandomizationFactor: b.Jitter, Multiplier: 2, MaxInterval: b.Max,
	}
	var d time.Duration
	for range max(attempt, 1) {
		d = eb.NextBackOff()
	}
	return d
}

// Worker sends due deliveries from the database. Rows are claimed in a short
// transaction that flips them to SENDING with a lease (next_attempt_at), and
// the send happens outside any transaction, so a slow provider holds no
// locks and, on SQLite, not the single connection. On PostgreSQL the claim
// uses FOR UPDATE SKIP LOCKED, so any number of workers (in any number of
// processes) never claim the same row; on SQLite run one worker per
// database. A worker that dies mid-send leaves a SENDING row whose lease
// expires and is claimed again: at-least-once, with a stable delivery id
// (Message-ID, provider idempotency key).
type Worker struct {
	DB      *entnotifier.Client
	Dialect string // ent dialect name (dialect.Postgres enables SKIP LOCKED)
	// Senders by channel name (channel.Email, channel.SMS, ...).
	Senders     map[string]channel.Sender
	Status      statusEvents
	Logger      *slog.Logger
	Metrics     *Metrics
	Backoff     Backoff
	MaxAttempts int           // attempts before FAILED; 0 = unlimited
	MaxAge      time.Duration // no retry is scheduled past created_at+MaxAge; 0 = unlimited
	Lease       time.Duration // how long a claim lasts; must exceed a send's timeout
	Poll        time.Duration // fallback poll interval
	Batch       int
	Now         func() time.Time
	// Published, when set, is called after status events commit (wakes the
	// outbox relay).
	Published func()
	// Users, when set, is asked again for the user's policy before a
	// DEFERRED delivery is first attempted (its quiet hours are over; the
	// user may have been deleted or changed their mind meanwhile). Run
	// passes the consumer's breaker-guarded directory.
	Users UserDirectory
	// Secrets opens the webhook secrets stored on delivery rows (and seals
	// the ones a re-check brings); nil: stored unencrypted.
	Secrets *secretbox.Box

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

// claim flips due rows to SENDING and counts the attempt. Rows past their
// attempt or age limit are failed here instead of being sent.
func (w *Worker) claim(ctx context.Context) ([]*entnotifier.Delivery, error) {
	now := w.now()
	tx, err := w.DB.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin claim: %w", err)
	}
	q := tx.Delivery.Query().
		Where(
			delivery.StatusIn(delivery.StatusPENDING, delivery.StatusDEFERRED, delivery.StatusRETRYING, delivery.StatusSENDING),
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
	var (
		claimed []*entnotifier.Delivery
		pub     []published
	)
	for _, d := range rows {
		if d.Status == delivery.StatusSENDING {
			w.Logger.Warn("reclaiming delivery whose lease expired", "delivery_id", d.ID, "attempts", d.Attempts)
		}
		if reason, public := w.exhausted(d, now); reason != "" {
			ok, err := w.Status.transition(ctx, tx, d, change{To: delivery.StatusFAILED, Reason: public, Attempt: d.Attempts,
				Update: func(u *entnotifier.DeliveryUpdate) { u.SetLastError(reason) }}, now)
			if err != nil {
				_ = tx.Rollback()
				return nil, err
			}
			if ok {
				pub = append(pub, published{d.Channel, string(delivery.StatusFAILED)})
			}
			continue
		}
		attempts := d.Attempts + 1
		ok, err := w.Status.transition(ctx, tx, d, change{To: delivery.StatusSENDING, Attempts: &attempts, NextAttemptAt: &lease}, now)
		if err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("claim delivery %s: %w", d.ID, err)
		}
		if ok {
			claimed = append(claimed, d)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit claim: %w", err)
	}
	w.committed(pub)
	return claimed, nil
}

// exhausted says why a due row must not be attempted again ("" = it may):
// in detail for last_error, and as the fixed text for the status event (the
// last failure's detail is an operator's to read).
// Only rows that already failed at least once can be exhausted: a PENDING or
// DEFERRED row always gets its first attempt.
func (w *Worker) exhausted(d *entnotifier.Delivery, now time.Time) (reason, public string) {
	if d.Attempts == 0 {
		return "", ""
	}
	if w.MaxAttempts > 0 && d.Attempts >= w.MaxAttempts {
		public = fmt.Sprintf("gave up after %d attempts", d.Attempts)
		return public + ": " + d.LastError, public
	}
	if w.MaxAge > 0 && now.After(d.CreatedAt.Add(w.MaxAge)) {
		public = fmt.Sprintf("gave up: older than %s after %d attempts", w.MaxAge, d.Attempts)
		return public + ": " + d.LastError, public
	}
	return "", ""
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
	log := w.Logger.With("delivery_id", d.ID, "event_id", d.EventID, "order_id", d.OrderID, "channel", d.Channel, "attempt", d.Attempts, "traceparent", d.Traceparent)
	if w.now().After(leaseUntil.Add(-w.lease() / 4)) {
		log.Info("lease nearly over before sending; leaving the row to be claimed again")
		return nil
	}
	var refreshed bool
	// A delivery that waited (quiet hours, or a retry's backoff) asks the
	// users service again before it is sent: the user may have been deleted,
	// switched the channel off, moved the address or rotated the webhook
	// secret meanwhile (a receiver that switched to the new secret refuses
	// the old signature, and 401 is permanent: the retry would be lost).
	if w.Users != nil && (d.PublicStatus == delivery.PublicStatusDEFERRED || d.PublicStatus == delivery.PublicStatusRETRYING) {
		skip, changed, err := w.recheck(withTraceParent(ctx, d.Traceparent), d, leaseUntil)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err() // shutting down: the claim expires and is retried
		case err != nil:
			return w.release(ctx, d, err, log)
		case skip != "":
			return w.skipRechecked(ctx, d, skip, log)
		}
		refreshed = changed
	}
	var (
		res     channel.Result
		sendErr error
	)
	sender := w.Senders[d.Channel]
	start := time.Now()
	if sender == nil {
		sendErr = channel.WithReason(channel.Permanent(fmt.Errorf("channel %s is not configured on this notifier", d.Channel)), ReasonChannelUnavailable)
	} else if secret, err := openSecret(w.Secrets, d.ID, d.Secret); err != nil {
		// Never sent unsigned: a key problem retries (an operator can fix
		// it), a corrupt value fails.
		sendErr = err
	} else {
		// Shutdown does not cut a send in flight: a relay or receiver that
		// already has the message would get it again after the lease
		// expires. The lease alone bounds it, so no other worker can send
		// this row meanwhile.
		sendCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), leaseUntil)
		res, sendErr = sender.Send(sendCtx, messageOf(d, secret))
		cancel()
		w.Metrics.sendDuration(d.Channel, sendErr, time.Since(start))
	}
	if sendErr != nil && ctx.Err() != nil {
		// Shutting down: leave the claim to expire and be retried.
		return ctx.Err()
	}

	now := w.now()
	recipient := maskRecipient(d.Channel, d.Recipient)
	var c change
	switch {
	case sendErr == nil:
		c = change{To: delivery.StatusSENT, Attempt: d.Attempts, Update: func(u *entnotifier.DeliveryUpdate) {
			u.SetSentAt(now).SetMessageID(res.ProviderID).SetLastError("")
		}}
		log.Info("delivery sent", "recipient", recipient, "provider_id", res.ProviderID)
	// Status events (which clients subscribe to) carry the fixed reason
	// only; the full error, with addresses and the provider's answer, goes
	// to the log and last_error (channel.PublicReason).
	case channel.IsPermanent(sendErr):
		reason := truncate(sendErr.Error(), 2000)
		public := channel.PublicReason(d.Channel, sendErr)
		c = change{To: delivery.StatusFAILED, Attempt: d.Attempts, Reason: public,
			Update: func(u *entnotifier.DeliveryUpdate) { u.SetLastError(reason) }}
		log.Warn("delivery failed permanently", "recipient", recipient, "reason", public, "error", sendErr)
	default:
		next := now.Add(max(w.Backoff.Delay(d.Attempts), channel.RetryAfterOf(sendErr)))
		reason := truncate(sendErr.Error(), 2000)
		public := channel.PublicReason(d.Channel, sendErr)
		switch {
		case w.MaxAttempts > 0 && d.Attempts >= w.MaxAttempts:
			reason = truncate(fmt.Sprintf("gave up after %d attempts: %s", d.Attempts, sendErr), 2000)
			public = fmt.Sprintf("gave up after %d attempts: %s", d.Attempts, public)
			c = change{To: delivery.StatusFAILED, Attempt: d.Attempts, Reason: public}
		case w.MaxAge > 0 && next.After(d.CreatedAt.Add(w.MaxAge)):
			reason = truncate(fmt.Sprintf("gave up: next attempt would be older than %s: %s", w.MaxAge, sendErr), 2000)
			public = fmt.Sprintf("gave up: next attempt would be older than %s: %s", w.MaxAge, public)
			c = change{To: delivery.StatusFAILED, Attempt: d.Attempts, Reason: public}
		default:
			c = change{To: delivery.StatusRETRYING, Attempt: d.Attempts, Reason: public, Next: &next, NextAttemptAt: &next}
		}
		c.Update = func(u *entnotifier.DeliveryUpdate) { u.SetLastError(reason) }
		log.Warn("delivery attempt failed", "recipient", recipient, "status", c.To, "next_attempt_at", next, "reason", public, "error", sendErr)
	}

	if refreshed {
		// Later attempts go where the re-check said, too.
		outcome := c.Update
		c.Update = func(u *entnotifier.DeliveryUpdate) {
			if outcome != nil {
				outcome(u)
			}
			u.SetRecipient(d.Recipient).SetSecret(d.Secret)
		}
	}
	// The outcome is recorded even when shutdown has begun: a send the
	// provider accepted must not be left to a lease expiry, which would send
	// it again.
	ctx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelRecord()
	ok, err := w.record(ctx, "outcome", d, c, now)
	if err != nil {
		return err
	}
	if !ok {
		log.Warn("delivery outcome dropped: the claim expired and the row was claimed again")
		return nil
	}
	if c.To == delivery.StatusRETRYING {
		w.Metrics.retry(d.Channel)
	}
	return nil
}

// record applies one transition to a claimed row in a transaction of its
// own and, once committed, counts and announces a published status (a
// release publishes nothing). applied is false when the row is no longer in
// the claim d describes (the lease expired and the row was claimed again):
// nothing was written. what names the step in errors.
func (w *Worker) record(ctx context.Context, what string, d *entnotifier.Delivery, c change, now time.Time) (applied bool, err error) {
	tx, err := w.DB.Tx(ctx)
	if err != nil {
		return false, fmt.Errorf("begin %s of %s: %w", what, d.ID, err)
	}
	ok, err := w.Status.transition(ctx, tx, d, c, now)
	if err != nil {
		_ = tx.Rollback()
		return false, fmt.Errorf("record %s of delivery %s: %w", what, d.ID, err)
	}
	if !ok {
		_ = tx.Rollback()
		return false, nil
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit %s of delivery %s: %w", what, d.ID, err)
	}
	if !c.Release {
		w.committed([]published{{d.Channel, string(c.To)}})
	}
	return true, nil
}

// recheck asks the users service again, through w.Users (the consumer's
// circuit breaker), whether a delivery deferred for quiet hours or waiting
// for its next attempt is still wanted now that it is due. It returns the reason to skip it ("" = send),
// or an error when the users service cannot answer. A still-wanted delivery
// takes the user's current address and secret (changed reports whether they
// differ). Quiet hours are not applied again: the deferral already honoured
// the window the user had when the event arrived.
func (w *Worker) recheck(ctx context.Context, d *entnotifier.Delivery, leaseUntil time.Time) (skip string, changed bool, err error) {
	ctx, cancel := context.WithDeadline(ctx, leaseUntil)
	defer cancel()
	p, err := w.Users.Policy(ctx, d.UserID, d.Category)
	if err != nil {
		return "", false, err
	}
	if p.Status != UserActive {
		return ReasonUserDeleted, false, nil
	}
	p.Quiet = nil
	available := map[string]bool{}
	for name, s := range w.Senders {
		available[name] = s != nil
	}
	for _, dec := range Decide(p, d.Category, w.now(), available) {
		if dec.Channel != d.Channel {
			continue
		}
		if dec.Status != events.StatusPending {
			return dec.Reason, false, nil
		}
		// The stored secret is sealed: compare what it holds. One that does
		// not open is replaced by the user's current secret.
		current, err := openSecret(w.Secrets, d.ID, d.Secret)
		changed = dec.Recipient != d.Recipient || err != nil || dec.Secret != current
		if !changed {
			return "", false, nil
		}
		sealed, err := sealSecret(w.Secrets, d.ID, dec.Secret)
		if err != nil {
			return "", false, err
		}
		d.Recipient, d.Secret = dec.Recipient, sealed
		return "", true, nil
	}
	return ReasonChannelOff, false, nil
}

// release hands a deferred or retrying delivery back unsent when its
// re-check could not reach the users service: it keeps its published status
// (nothing is published, no attempt is counted) and is tried again after a
// backoff. A users-service outage pauses such deliveries; it never skips or
// sends them unchecked.
func (w *Worker) release(ctx context.Context, d *entnotifier.Delivery, cause error, log *slog.Logger) error {
	next := w.now().Add(w.Backoff.Delay(1))
	attempts := d.Attempts - 1 // the claim counted an attempt that was not made
	reason := truncate("policy re-check: "+cause.Error(), 2000)
	to := delivery.StatusDEFERRED
	if d.PublicStatus == delivery.PublicStatusRETRYING {
		to = delivery.StatusRETRYING
	}
	c := change{To: to, Release: true, NextAttemptAt: &next, Attempts: &attempts,
		Update: func(u *entnotifier.DeliveryUpdate) { u.SetLastError(reason) }}
	ok, err := w.record(ctx, "release", d, c, w.now())
	if err != nil || !ok {
		return err
	}
	log.Warn("delivery held: users service unavailable for its policy re-check", "status", d.PublicStatus, "next_attempt_at", next, "error", cause)
	return nil
}

// skipRechecked records SKIPPED for a deferred or retrying delivery the
// re-check ruled out (user deleted, channel switched off, ...). No attempt
// was made this time.
func (w *Worker) skipRechecked(ctx context.Context, d *entnotifier.Delivery, reason string, log *slog.Logger) error {
	attempts := d.Attempts - 1
	c := change{To: delivery.StatusSKIPPED, Reason: reason, Attempt: attempts, Attempts: &attempts,
		Update: func(u *entnotifier.DeliveryUpdate) { u.SetLastError(reason) }}
	ok, err := w.record(ctx, "skip", d, c, w.now())
	if err != nil {
		return err
	}
	if !ok {
		log.Warn("skip dropped: the claim expired and the row was claimed again")
		return nil
	}
	log.Info("delivery skipped after its policy re-check", "status", d.PublicStatus, "reason", reason)
	return nil
}

func (w *Worker) committed(pub []published) {
	if len(pub) == 0 {
		return
	}
	w.Metrics.transitions(pub)
	if w.Published != nil {
		w.Published()
	}
}

// messageOf is what a channel gets for one attempt; secret is the row's
// secret, opened.
func messageOf(d *entnotifier.Delivery, secret string) channel.Message {
	return channel.Message{
		DeliveryID: d.ID.String(), EventID: d.EventID, OrderID: d.OrderID, UserID: d.UserID,
		Channel: d.Channel, Attempt: d.Attempts, Recipient: d.Recipient,
		Subject: d.Subject, Text: d.Body, HTML: d.HTMLBody, Locale: d.Locale,
		Category: d.Category, Critical: d.Critical, EventType: d.EventType, Payload: d.Payload,
		Secret: secret,
	}
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
