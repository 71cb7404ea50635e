package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
