package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// mailWatch follows mailpit's message list and records, per order id found
// in a subject, when mailpit received the email (its Created timestamp, in
// milliseconds). Using mailpit's own receive time keeps the polling interval
// out of the latency; mailpit and this process share the machine's clock.
type mailWatch struct {
	mail   *testenv.MailpitServer
	marker string // only mail to recipients containing this counts

	mu        sync.Mutex
	seen      map[string]bool      // mailpit message ids already read
	arrived   map[string]time.Time // subject token (order id) → first Created
	count     map[string]int       // subject token → emails
	watermark time.Time            // newest Created read so far
	polls     int
	lastErr   error
}

func newMailWatch(mail *testenv.MailpitServer, marker string) *mailWatch {
	return &mailWatch{
		mail: mail, marker: marker,
		seen: map[string]bool{}, arrived: map[string]time.Time{}, count: map[string]int{},
	}
}

const pageSize = 250

// poll reads the newest messages until it reaches ones it already knows.
func (w *mailWatch) poll(ctx context.Context) error {
	w.mu.Lock()
	mark := w.watermark.Add(-2 * time.Second) // mail inserted slightly out of order is still read
	w.mu.Unlock()
	for start := 0; ; start += pageSize {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		page, err := w.mail.List(pctx, start, pageSize)
		cancel()
		if err != nil {
			return err
		}
		done := len(page.Messages) < pageSize
		w.mu.Lock()
		for _, m := range page.Messages {
			if w.seen[m.ID] {
				if m.Created.Before(mark) {
					done = true
				}
				continue
			}
			w.seen[m.ID] = true
			if m.Created.After(w.watermark) {
				w.watermark = m.Created
			}
			if !w.ours(m.To) {
				continue
			}
			for _, tok := range orderTokens(m.Subject) {
				if t, ok := w.arrived[tok]; !ok || m.Created.Before(t) {
					w.arrived[tok] = m.Created
				}
				w.count[tok]++
			}
		}
		w.polls++
		w.mu.Unlock()
		if done {
			return nil
		}
	}
}

func (w *mailWatch) ours(to []string) bool {
	for _, a := range to {
		if strings.Contains(a, w.marker) {
			return true
		}
	}
	return false
}

// orderTokens returns the words of a subject that may be an order id:
// long enough and holding a digit (ids are UUIDs; "Order" and "confirmed"
// are not).
func orderTokens(subject string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(subject, func(r rune) bool {
		return r == ' ' || r == '#' || r == ':' || r == ',' || r == '(' || r == ')' || r == '"'
	}) {
		f = strings.TrimRight(f, ".!")
		if len(f) >= 8 && strings.ContainsAny(f, "0123456789") {
			out = append(out, f)
		}
	}
	return out
}

// run polls every interval until ctx ends.
func (w *mailWatch) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := w.poll(ctx); err != nil && ctx.Err() == nil {
			w.mu.Lock()
			w.lastErr = err
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// arrival returns when the first email for the order arrived and how many
// arrived.
func (w *mailWatch) arrival(orderID string) (time.Time, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.arrived[orderID], w.count[orderID]
}

func (w *mailWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}
