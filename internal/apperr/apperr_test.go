package apperr_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/testenv"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ports := testenv.Ports(t, 1)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
}

func TestUnreachable(t *testing.T) {
	addr := closedAddr(t)
	_, dialErr := net.Dial("tcp", addr)
	if dialErr == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(addr)
	_, pgErr := pgconn.Connect(ctx, fmt.Sprintf("postgres://u@%s:%s/db?sslmode=disable&connect_timeout=5", host, port))
	if pgErr == nil {
		t.Fatal("pgconn.Connect to a closed port succeeded")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"dial refused", fmt.Errorf("look up: %w", dialErr), true},
		{"postgres connect refused", fmt.Errorf("createOrder look up idempotency key: %w", pgErr), true},
		{"bad conn", fmt.Errorf("tx: %w", driver.ErrBadConn), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"coded unavailable", apperr.New(apperr.Unavailable, "x"), true},
		{"coded internal over a dial error", apperr.Wrap(dialErr, apperr.Internal, "x"), false},
		{"canceled", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := apperr.Unreachable(tc.err); got != tc.want {
				t.Fatalf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
			}
			want := apperr.Internal
			if tc.want {
				want = apperr.Unavailable
			}
			if tc.err != nil {
				if got := apperr.CodeOf(tc.err); got != want {
					t.Fatalf("CodeOf(%v) = %s, want %s", tc.err, got, want)
				}
			}
		})
	}
}
