package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Connections released after a burst of concurrent transactions stay open
// for the next burst instead of being closed and dialled again (each new
// PostgreSQL connection forks a backend).
func TestPostgresKeepsIdleConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := db.Open(ctx, db.Postgres, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.SQL.Close()
	const workers = 8
	for round := range 3 {
		var (
			begun sync.WaitGroup
			done  sync.WaitGroup
			all   = make(chan struct{})
			errs  = make(chan error, workers)
		)
		begun.Add(workers)
		done.Add(workers)
		for range workers {
			go func() {
				defer done.Done()
				tx, err := conn.SQL.BeginTx(ctx, nil)
				begun.Done()
				if err != nil {
					errs <- err
					return
				}
				<-all // every transaction holds its connection at once
				if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
					errs <- err
				}
				errs <- tx.Commit()
			}()
		}
		begun.Wait()
		close(all)
		done.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st := conn.SQL.Stats()
		if st.MaxIdleClosed != 0 || st.OpenConnections != workers || st.Idle != workers {
			t.Fatalf("round %d: %d open, %d idle, %d closed for the idle limit; want %d kept idle and none closed",
				round, st.OpenConnections, st.Idle, st.MaxIdleClosed, workers)
		}
	}
}
