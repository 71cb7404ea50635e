package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/router/auth"
)

// The development stack is its own identity provider: an Ed25519 key under
// .run/ signs tokens, and the router trusts its public key. Production
// trusts the team's provider instead (docs/security.md).
const (
	devSigningKey = ".run/dev-signing-key.pem"
	devPublicKey  = ".run/dev-signing-key.pub.pem"
	// devSubject is the demo user the banner prints a token for.
	devSubject = "demo"
	devTTL     = 24 * time.Hour
)

// devSigner loads (or makes, on the first run) the development signing key
// and writes its public half where the router's default reads it.
func devSigner(keyPath, pubPath string) (*auth.Signer, error) {
	s, err := auth.LoadOrCreateSigner(keyPath)
	if err != nil {
		return nil, err
	}
	pub, err := s.PublicKeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return nil, fmt.Errorf("dev public key: %w", err)
	}
	return s, nil
}

// runToken is `herald token`: it prints a development token.
func runToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", devSubject, "subject (the user's identity; registerUser binds it)")
	scopes := fs.String("scope", "", `scopes, space-separated (for example "herald:admin" for an operator)`)
	ttl := fs.Duration("ttl", devTTL, "how long the token is valid")
	key := fs.String("key", devSigningKey, "the development signing key (made by the first `make run`)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: herald token [-sub demo] [-scope \"herald:admin\"] [-ttl 24h]")
		fmt.Fprintln(stderr, "Prints a token the development stack's router accepts (signed with its local key).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *sub == "" || *ttl <= 0 {
		fmt.Fprintln(stderr, "herald token: -sub must not be empty and -ttl must be positive")
		return 2
	}
	s, err := auth.LoadOrCreateSigner(*key)
	if err != nil {
		fmt.Fprintln(stderr, "herald token:", err)
		return 1
	}
	tok, err := s.Mint(*sub, strings.Fields(*scopes), *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "herald token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// devTokenHandler is the web app's development sign-in (POST /dev/token
// {"sub": "alice"} → {"token": "…"}): anyone who can reach the dev stack
// may be anyone, which is what a development stack is for. It mints user
// tokens only, never operator scopes. Only this binary serves it, and only
// while the router trusts the development key; the router binary has no
// such endpoint.
func devTokenHandler(s *auth.Signer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dev/token", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Sub string `json:"sub"`
		}
		reply := func(code int, body map[string]string) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(body)
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
			reply(http.StatusBadRequest, map[string]string{"error": "expected a JSON body {\"sub\": \"a user name\"}"})
			return
		}
		in.Sub = strings.TrimSpace(in.Sub)
		if in.Sub == "" || len(in.Sub) > 255 || !utf8.ValidString(in.Sub) {
			reply(http.StatusBadRequest, map[string]string{"error": "the user name must be 1 to 255 bytes of text"})
			return
		}
		tok, err := s.Mint(in.Sub, nil, devTTL)
		if err != nil {
			reply(http.StatusInternalServerError, map[string]string{"error": "minting failed"})
			return
		}
		reply(http.StatusOK, map[string]string{"token": tok})
	})
	return mux
}
