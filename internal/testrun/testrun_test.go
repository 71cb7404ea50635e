package testrun_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/heraldhq/herald/internal/testrun"
)

// serve is a small service's Run: an HTTP server on a free port until ctx
// ends.
func serve(ctx context.Context, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "up") })}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	ready(ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func TestStartServesUntilStop(t *testing.T) {
	r := testrun.Start(t, "server", serve)
	resp, err := http.Get(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "up" {
		t.Fatalf("answer %q, want up", body)
	}
	r.Stop(t)
	<-r.Done() // Stop waited for Run to return
	if r.Err() != nil {
		t.Errorf("Err = %v, want nil", r.Err())
	}
	r.Stop(t) // a second Stop, and the cleanup's, do nothing
}
