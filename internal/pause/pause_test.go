package pause_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pause"
)

func TestFor(t *testing.T) {
	if !pause.For(context.Background(), time.Millisecond) {
		t.Error("For with a live context = false, want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// An hour: only the ended context can end this wait.
	if pause.For(ctx, time.Hour) {
		t.Error("For with an ended context = true, want false")
	}
}
