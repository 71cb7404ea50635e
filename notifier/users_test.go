package notifier

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestUsersClientAgainstUsersService(t *testing.T) {
	svc := startUsers(t)
	id := svc.register(t, "Ada Lovelace", "ada@example.com", "+4915112345678", true, true)
	c := NewUsersClient(svc.URL, &http.Client{Timeout: 10 * time.Second})
	ctx := context.Background()

	got, err := c.Contact(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := Contact{ID: id, Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+4915112345678", EmailOn: true, SMSOn: true}
	if got != want {
		t.Errorf("Contact = %+v, want %+v", got, want)
	}

	if _, err := c.Contact(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("unknown user: err = %v, want ErrUserNotFound", err)
	}
}

// A users service that is down or failing must never look like "no such
// user": that would skip the customer's notification.
func TestUsersClientFailuresAreNotNotFound(t *testing.T) {
	// A port that was free a moment ago: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + ln.Addr().String() + "/graphql"
	ln.Close()

	// A real HTTP server answering the way a crashing or overloaded service
	// does (the real users service cannot be made to fail on demand).
	failing := func(status int, body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	tests := []struct {
		name string
		url  string
	}{
		{"connection refused", downURL},
		{"503", failing(http.StatusServiceUnavailable, `{"errors":[{"message":"down"}]}`)},
		{"500 not json", failing(http.StatusInternalServerError, `oops`)},
		{"404 wrong path", failing(http.StatusNotFound, `not found`)},
		{"graphql internal error", failing(http.StatusOK, `{"data":{"user":null},"errors":[{"message":"internal","extensions":{"code":"INTERNAL"}}]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewUsersClient(tc.url, &http.Client{Timeout: 5 * time.Second})
			_, err := c.Contact(context.Background(), "u1")
			if err == nil || errors.Is(err, ErrUserNotFound) {
				t.Fatalf("err = %v, want a retryable error", err)
			}
		})
	}
	t.Run("graphql NOT_FOUND", func(t *testing.T) {
		c := NewUsersClient(failing(http.StatusOK, `{"data":{"user":null},"errors":[{"message":"no user","extensions":{"code":"NOT_FOUND"}}]}`), http.DefaultClient)
		if _, err := c.Contact(context.Background(), "u1"); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("err = %v, want ErrUserNotFound", err)
		}
	})
}
