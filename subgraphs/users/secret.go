package users

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/heraldhq/herald/internal/secretbox"
)

// Webhook signing secrets are generated here, shown to the user once, and
// stored sealed (internal/secretbox): the notifier needs the secret itself
// to sign each request (HMAC-SHA256), so a hash would not do. With a key
// configured (HERALD_USERS_SECRET_KEY) the stored value is AES-256-GCM
// ciphertext bound to the user id; without one it is stored as is, marked
// "plain:", which is for development only.

// SecretKeySize is the size of HERALD_USERS_SECRET_KEY once decoded.
const SecretKeySize = secretbox.KeySize

// NewWebhookSecret returns a fresh signing secret: 32 random bytes,
// base64url, with a prefix that makes it recognisable in a secret scanner.
func NewWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// SecretBox seals and opens stored webhook secrets; the additional data is
// the user id. Every row has a "v1:" or "plain:" prefix: a value with
// neither is refused.
type SecretBox = secretbox.Box

// secretOptions name the secret and the key in errors.
var secretOptions = secretbox.Options{Name: "webhook secret", KeyVar: "HERALD_USERS_SECRET_KEY"}

// ParseSecretKey decodes HERALD_USERS_SECRET_KEY (standard base64 of 32
// bytes); an empty key gives a box that stores secrets plain.
func ParseSecretKey(s string) (*SecretBox, error) {
	return secretbox.New(s, secretOptions)
}

// plainSecrets is the box without a key (the zero Options' default).
func plainSecrets() *SecretBox {
	b, _ := secretbox.New("", secretOptions) // an empty key cannot fail
	return b
}
