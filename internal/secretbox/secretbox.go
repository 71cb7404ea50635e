// Package secretbox seals secrets that a service must store and later use
// itself (a webhook signing secret is needed in clear to sign each request,
// so a hash would not do). With a key the stored value is AES-256-GCM
// ciphertext, "v1:" + base64(nonce ‖ ciphertext ‖ tag), bound to additional
// data the caller chooses (the id of the row that holds it), so a value
// copied to another row does not open. Without a key the value is stored as
// is, marked "plain:": development only, and callers warn about it at
// start-up.
//
// A box configured with LegacyPlain also opens a value with neither prefix
// as plain text: rows written before the service sealed anything.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Stored-value prefixes.
const (
	// SealedPrefix marks AES-256-GCM ciphertext (format version 1).
	SealedPrefix = "v1:"
	// PlainPrefix marks a secret stored unencrypted (no key configured).
	PlainPrefix = "plain:"
	// KeySize is the key's size in bytes once decoded.
	KeySize = 32
)

// Kinds of Open failures; the errors Open returns wrap one of them (match
// with errors.Is) and carry a message naming the secret and the key's
// variable.
var (
	// ErrNoKey: the value is sealed but the box has no key.
	ErrNoKey = errors.New("secretbox: sealed value but no key")
	// ErrCorrupt: the value has the sealed prefix but is not well-formed.
	ErrCorrupt = errors.New("secretbox: corrupt sealed value")
	// ErrDecrypt: the value does not open with this key and additional data
	// (a different key, or a value that belongs to another row).
	ErrDecrypt = errors.New("secretbox: cannot decrypt")
	// ErrFormat: neither prefix, and the box does not accept legacy values.
	ErrFormat = errors.New("secretbox: unknown stored format")
)

// ErrKey is what New returns for a key that is not the standard base64
// encoding of KeySize bytes; its message is meant to follow the variable's
// name ("HERALD_X_SECRET_KEY: must be ...").
var ErrKey = fmt.Errorf("must be the standard base64 encoding of %d random bytes (openssl rand -base64 %d)", KeySize, KeySize)

// Options say how a box names things in errors and what it accepts.
type Options struct {
	// Name is what the secret is called in error messages ("webhook
	// secret"); default "secret".
	Name string
	// KeyVar is the environment variable holding the key, named in error
	// messages; default "the secret key".
	KeyVar string
	// LegacyPlain makes Open return a value with neither prefix unchanged
	// (written before the service sealed its secrets) instead of failing.
	LegacyPlain bool
}

// Box seals and opens stored secrets. The zero Box (and a nil *Box) has no
// key: it stores secrets "plain:" and cannot open sealed values.
type Box struct {
	aead cipher.AEAD // nil: no key
	opts Options
}

// New returns a box for key, the standard base64 encoding of KeySize
// bytes; an empty key gives a box that stores secrets plain. An invalid
// key returns ErrKey.
func New(key string, opts Options) (*Box, error) {
	b := &Box{opts: opts}
	if key == "" {
		return b, nil
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != KeySize {
		return nil, ErrKey
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	if b.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return b, nil
}

// Encrypted reports whether Seal encrypts (a key is configured).
func (b *Box) Encrypted() bool { return b != nil && b.aead != nil }

// Seal returns the stored form of secret, bound to ad (additional data:
// Open needs the same ad).
func (b *Box) Seal(ad, secret string) (string, error) {
	if !b.Encrypted() {
		return PlainPrefix + secret, nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: %w", b.name(), err)
	}
	ct := b.aead.Seal(nonce, nonce, []byte(secret), []byte(ad))
	return SealedPrefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Open returns the secret in a stored value sealed with ad. "plain:"
// values open with or without a key, so configuring a key later still
// reads what was stored before.
func (b *Box) Open(ad, stored string) (string, error) {
	switch {
	case strings.HasPrefix(stored, PlainPrefix):
		return strings.TrimPrefix(stored, PlainPrefix), nil
	case strings.HasPrefix(stored, SealedPrefix):
		if !b.Encrypted() {
			return "", b.fail(ErrNoKey, fmt.Sprintf("%s is encrypted but %s is not set", b.name(), b.keyVar()))
		}
		ct, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, SealedPrefix))
		n := b.aead.NonceSize()
		if err != nil || len(ct) < n+b.aead.Overhead() {
			return "", b.fail(ErrCorrupt, b.name()+": stored value is corrupt")
		}
		pt, err := b.aead.Open(nil, ct[:n], ct[n:], []byte(ad))
		if err != nil {
			return "", b.fail(ErrDecrypt, fmt.Sprintf("%s: cannot decrypt (wrong %s?)", b.name(), b.keyVar()))
		}
		return string(pt), nil
	case b != nil && b.opts.LegacyPlain:
		return stored, nil
	default:
		return "", b.fail(ErrFormat, b.name()+": unknown stored format")
	}
}

func (b *Box) name() string {
	if b == nil || b.opts.Name == "" {
		return "secret"
	}
	return b.opts.Name
}

func (b *Box) keyVar() string {
	if b == nil || b.opts.KeyVar == "" {
		return "the secret key"
	}
	return b.opts.KeyVar
}

// openError keeps the caller-facing message while matching its kind.
type openError struct {
	kind error
	msg  string
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.kind }

func (b *Box) fail(kind error, msg string) error { return &openError{kind: kind, msg: msg} }
