package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/router/auth"
)

// The web app's development sign-in mints a user token the router accepts
// for the name given, never with scopes, and refuses an empty name.
func TestDevTokenHandler(t *testing.T) {
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub.pem")
	s, err := devSigner(key, pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{PublicKeyFile: pub}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := devTokenHandler(s)
	post := func(body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dev/token", strings.NewReader(body)))
		return rec
	}

	rec := post(`{"sub":" alice "}`)
	var out struct{ Token string }
	if err := json.NewDecoder(rec.Body).Decode(&out); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("POST /dev/token: %d, %v", rec.Code, err)
	}
	id, _, err := v.Verify(context.Background(), out.Token)
	if err != nil {
		t.Fatalf("router refuses the token: %v", err)
	}
	if id.Subject != "alice" || len(id.Scopes) != 0 {
		t.Errorf("identity %+v, want subject alice without scopes", id)
	}
	for _, body := range []string{`{"sub":""}`, `{"sub":"` + strings.Repeat("x", 256) + `"}`, `not json`} {
		if rec := post(body); rec.Code != http.StatusBadRequest {
			t.Errorf("body %.20q: %d, want 400", body, rec.Code)
		}
	}
}
