package subscription

import (
	"context"
	"errors"
	"testing"
)

// A subscriber whose queue is full is closed with endTooSlow at once: the
// engine's worker never waits for it, and the drop is counted.
func TestQueueWriterOverflowClosesTooSlow(t *testing.T) {
	s := NewServer(context.Background(), Config{Buffer: 2}, nil, nil)
	w := s.newQueueWriter()
	for i := range 2 {
		_, _ = w.Write([]byte(`{"data":{}}`))
		if err := w.Flush(); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	_, _ = w.Write([]byte(`{"data":{}}`))
	if err := w.Flush(); !errors.Is(err, errTooSlow) {
		t.Fatalf("third flush = %v, want errTooSlow", err)
	}
	select {
	case <-w.done:
	default:
		t.Fatal("writer not finished")
	}
	if w.kind != endTooSlow {
		t.Errorf("kind = %v, want endTooSlow", w.kind)
	}
	w.Complete() // later ends do not change the reason
	if w.kind != endTooSlow {
		t.Errorf("kind after Complete = %v", w.kind)
	}
	if st := s.Stats(); st.TooSlow != 1 || st.Dropped != 3 {
		t.Errorf("stats %+v, want 1 too slow, 3 dropped", st)
	}
}
