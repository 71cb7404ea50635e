package notifier

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/notifier/channel/email"
)

func TestConsumerPostgres(t *testing.T) {
	client, _ := openDB(t, db.Postgres, testenv.Postgres(t))
	testConsumer(t, client)
}

// insertPending adds n due email deliveries.
func insertPending(t *testing.T, client *entnotifier.Client, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Add(-time.Second)
	creates := make([]*entnotifier.DeliveryCreate, n)
	for i := range creates {
		creates[i] = client.Delivery.Create().
			SetEventID(uuid.NewString()).SetOrderID("o").SetUserID("u").
			SetChannel(email.Name).SetRecipient("x@example.com").
			SetNextAttemptAt(now).SetCreatedAt(now)
	}
	if err := client.Delivery.CreateBulk(creates...).Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// Concurrent claimers on PostgreSQL (FOR UPDATE SKIP LOCKED) must never hand
// the same row to two workers, and together must claim every row.
func TestClaimIsExclusivePostgres(t *testing.T) {
	client, _ := openDB(t, db.Postgres, testenv.Postgres(t))
	const rows, workers = 200, 6
	insertPending(t, client, rows)

	var (
		mu   sync.Mutex
		seen = map[uuid.UUID]int{}
		wg   sync.WaitGroup
	)
	for i := range workers {
		w := &Worker{DB: client, Dialect: dialect.Postgres, Logger: testLogger(t), Batch: 7, Lease: time.Hour}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := w.claim(context.Background())
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != rows {
		t.Errorf("claimed %d distinct rows, want %d", len(seen), rows)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("row %s claimed %d times", id, n)
		}
	}
	n, err := client.Delivery.Query().Where(delivery.StatusEQ(delivery.StatusSENDING), delivery.Attempts(1)).Count(context.Background())
	if err != nil || n != rows {
		t.Errorf("%d rows SENDING with one attempt (err %v), want %d", n, err, rows)
	}
}

// A claim holds a row until its lease ends; then it is claimed again (the
// worker that held it is presumed dead).
func TestClaimLease(t *testing.T) {
	eachDB(t, func(t *testing.T, driver, dsn string) {
		client, d := openDB(t, driver, dsn)
		dia := d.Dialect
		insertPending(t, client, 1)
		now := time.Now()
		w := &Worker{DB: client, Dialect: dia, Logger: testLogger(t), Lease: time.Minute, Now: func() time.Time { return now }}
		ctx := context.Background()
		if got, err := w.claim(ctx); err != nil || len(got) != 1 {
			t.Fatalf("first claim: %d rows, %v", len(got), err)
		}
		if got, err := w.claim(ctx); err != nil || len(got) != 0 {
			t.Fatalf("claim during the lease: %d rows, %v; want none", len(got), err)
		}
		now = now.Add(2 * time.Minute)
		got, err := w.claim(ctx)
		if err != nil || len(got) != 1 || got[0].Attempts != 2 {
			t.Fatalf("claim after the lease: %+v, %v; want the row with 2 attempts", got, err)
		}
	})
}

// record is the one way a claimed row's outcome, release or skip is
// written: applied once, announced only for a published status, and a
// no-op for a row whose claim was taken over after its lease.
func TestRecordTransition(t *testing.T) {
	eachDB(t, func(t *testing.T, driver, dsn string) {
		client, d := openDB(t, driver, dsn)
		dia := d.Dialect
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond) // stored times keep µs at best
		var announced int
		w := &Worker{DB: client, Dialect: dia, Logger: testLogger(t), Lease: time.Minute, Batch: 1,
			Status:    statusEvents{Topic: "NotificationStatus", Source: StatusSource},
			Now:       func() time.Time { return now },
			Published: func() { announced++ }}
		claimOne := func() *entnotifier.Delivery {
			t.Helper()
			got, err := w.claim(ctx)
			if err != nil || len(got) != 1 {
				t.Fatalf("claim: %d rows, %v; want 1", len(got), err)
			}
			return got[0]
		}

		// Applied: written, in the history, announced once.
		insertPending(t, client, 1)
		sent := claimOne()
		ok, err := w.record(ctx, "outcome", sent, change{To: delivery.StatusSENT, Attempt: sent.Attempts}, now)
		if err != nil || !ok || announced != 1 {
			t.Fatalf("record SENT: applied %v, %v, announced %d; want true, nil, 1", ok, err, announced)
		}
		if got := reload(t, client, sent.ID); got.Status != delivery.StatusSENT || got.PublicStatus != delivery.PublicStatusSENT {
			t.Errorf("row after SENT: %s/%s", got.Status, got.PublicStatus)
		}
		if h := historyOf(t, client, sent); !slices.Equal(h, []string{">SENT#1"}) && !slices.Equal(h, []string{"PENDING>SENT#1"}) {
			t.Errorf("history after SENT: %q", h)
		}

		// A final row cannot move again: an error naming the step, nothing written.
		announced = 0
		_, err = w.record(ctx, "outcome", reload(t, client, sent.ID), change{To: delivery.StatusRETRYING, Attempt: 1}, now)
		if err == nil || !strings.Contains(err.Error(), "record outcome of delivery") || announced != 0 {
			t.Errorf("record after SENT: %v, announced %d; want an error, nothing announced", err, announced)
		}

		// Stale claim: the lease ran out and the row was claimed again;
		// the first claimer's outcome is dropped.
		insertPending(t, client, 1)
		stale := claimOne()
		now = now.Add(2 * time.Minute)
		fresh := claimOne()
		announced = 0
		before := historyOf(t, client, fresh)
		ok, err = w.record(ctx, "outcome", stale, change{To: delivery.StatusSENT, Attempt: stale.Attempts}, now)
		if err != nil || ok || announced != 0 {
			t.Fatalf("record with a stale claim: applied %v, %v, announced %d; want false, nil, 0", ok, err, announced)
		}
		if got := reload(t, client, fresh.ID); got.Status != delivery.StatusSENDING || got.Attempts != 2 {
			t.Errorf("row after a stale outcome: %s, %d attempts; want SENDING, 2", got.Status, got.Attempts)
		}
		if h := historyOf(t, client, fresh); !slices.Equal(h, before) {
			t.Errorf("history after a stale outcome %q, want unchanged %q", h, before)
		}

		// Release (a deferred row handed back): written, nothing
		// published or announced.
		ok, err = w.record(ctx, "outcome", fresh, change{To: delivery.StatusSENT, Attempt: fresh.Attempts}, now)
		if err != nil || !ok {
			t.Fatalf("record the fresh claim: %v, %v", ok, err)
		}
		deferred := client.Delivery.Create().
			SetEventID(uuid.NewString()).SetOrderID("o").SetUserID("u").
			SetChannel(email.Name).SetRecipient("x@example.com").
			SetStatus(delivery.StatusDEFERRED).SetPublicStatus(delivery.PublicStatusDEFERRED).
			SetStatusAt(now.Add(-time.Hour)).SetNextAttemptAt(now.Add(-time.Second)).SetCreatedAt(now.Add(-time.Hour)).
			SaveX(ctx)
		held := claimOne()
		if held.ID != deferred.ID {
			t.Fatalf("claimed %s, want the deferred row %s", held.ID, deferred.ID)
		}
		announced = 0
		before = historyOf(t, client, held)
		next, zero := now.Add(time.Minute), 0
		ok, err = w.record(ctx, "release", held, change{To: delivery.StatusDEFERRED, Release: true, NextAttemptAt: &next, Attempts: &zero}, now)
		if err != nil || !ok || announced != 0 {
			t.Fatalf("release: applied %v, %v, announced %d; want true, nil, 0", ok, err, announced)
		}
		if got := reload(t, client, held.ID); got.Status != delivery.StatusDEFERRED || got.Attempts != 0 || !got.NextAttemptAt.Equal(next) {
			t.Errorf("row after release: %s, %d attempts, next %v", got.Status, got.Attempts, got.NextAttemptAt)
		}
		if h := historyOf(t, client, held); !slices.Equal(h, before) {
			t.Errorf("history after release %q, want unchanged %q (a release publishes nothing)", h, before)
		}
	})
}
