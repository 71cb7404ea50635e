package notifier

import (
	"context"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	entnotifier "github.com/heraldhq/herald/ent/notifier"
	"github.com/heraldhq/herald/ent/notifier/delivery"
	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/testenv"
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
			SetChannel(delivery.ChannelEmail).SetRecipient("x@example.com").
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
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (*entnotifier.Client, string)
	}{
		{"sqlite", func(t *testing.T) (*entnotifier.Client, string) { c, d := openSQLite(t); return c, d.Dialect }},
		{"postgres", func(t *testing.T) (*entnotifier.Client, string) {
			c, d := openDB(t, db.Postgres, testenv.Postgres(t))
			return c, d.Dialect
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, dia := tc.open(t)
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
}
