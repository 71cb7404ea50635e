package gqlserver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/internal/gqlserver"
)

func TestPresenterCodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, dialErr := net.Dial("tcp", addr)
	if dialErr == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	present := gqlserver.Presenter(slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name     string
		err      error
		code     string
		message  string
		noDetail string
	}{
		{"database down", fmt.Errorf("createOrder look up idempotency key: %w", dialErr), "UNAVAILABLE", gqlserver.UnavailableMessage, addr},
		{"internal", errors.New("createOrder: something broke at 10.0.0.1"), "INTERNAL", "internal error", "10.0.0.1"},
		{"coded", apperr.Invalid("items", "at least one item"), "BAD_USER_INPUT", "at least one item", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := present(context.Background(), tc.err)
			if got.Extensions["code"] != tc.code || got.Message != tc.message {
				t.Fatalf("presented %q with code %v, want %q with %s", got.Message, got.Extensions["code"], tc.message, tc.code)
			}
			if tc.noDetail != "" && (got.Message == tc.err.Error() || strings.Contains(got.Message, tc.noDetail)) {
				t.Fatalf("presented message %q leaks %q", got.Message, tc.noDetail)
			}
		})
	}
}
