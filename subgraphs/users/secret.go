package users

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Webhook signing secrets are generated here, shown to the user once, and
// stored sealed: the notifier needs the secret itself to sign each request
// (HMAC-SHA256), so a hash would not do. With a key configured
// (HERALD_USERS_SECRET_KEY) the stored value is AES-256-GCM ciphertext bound
// to the user id; without one it is stored as is, marked "plain:", which is
// for development only.

const (
	sealedPrefix = "v1:"
	plainPrefix  = "plain:"
	// SecretKeySize is the size of HERALD_USERS_SECRET_KEY once decoded.
	SecretKeySize = 32
)

// NewWebhookSecret returns a fresh signing secret: 32 random bytes,
// base64url, with a prefix that makes it recognisable in a secret scanner.
func NewWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// SecretBox seals and opens stored secrets.
type SecretBox struct {
	aead cipher.AEAD // nil: no key, secrets are stored plain
}

// ParseSecretKey decodes HERALD_USERS_SECRET_KEY (standard base64 of 32
// bytes); an empty key gives a box that stores secrets plain.
func ParseSecretKey(s string) (*SecretBox, error) {
	if s == "" {
		return &SecretBox{}, nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) != SecretKeySize {
		return nil, fmt.Errorf("must be the standard base64 encoding of %d random bytes (openssl rand -base64 %d)", SecretKeySize, SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Encrypted reports whether secrets are encrypted at rest.
func (b *SecretBox) Encrypted() bool { return b != nil && b.aead != nil }

// Seal returns the stored form of secret for user id.
func (b *SecretBox) Seal(userID, secret string) (string, error) {
	if !b.Encrypted() {
		return plainPrefix + secret, nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	ct := b.aead.Seal(nonce, nonce, []byte(secret), []byte(userID))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Open returns the secret in a stored value.
func (b *SecretBox) Open(userID, stored string) (string, error) {
	switch {
	case strings.HasPrefix(stored, plainPrefix):
		return strings.TrimPrefix(stored, plainPrefix), nil
	case strings.HasPrefix(stored, sealedPrefix):
		if !b.Encrypted() {
			return "", errors.New("webhook secret is encrypted but HERALD_USERS_SECRET_KEY is not set")
		}
		ct, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
		if err != nil || len(ct) < b.aead.NonceSize() {
			return "", errors.New("webhook secret: stored value is corrupt")
		}
		n := b.aead.NonceSize()
		pt, err := b.aead.Open(nil, ct[:n], ct[n:], []byte(userID))
		if err != nil {
			return "", errors.New("webhook secret: cannot decrypt (wrong HERALD_USERS_SECRET_KEY?)")
		}
		return string(pt), nil
	default:
		return "", errors.New("webhook secret: unknown stored format")
	}
}
