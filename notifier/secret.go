package notifier

import (
	"errors"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/notifier/channel"
)

// SecretKeyVar holds the key that seals webhook signing secrets on delivery
// rows (standard base64 of 32 bytes, like the users service's key; the two
// services need not share one).
const SecretKeyVar = "HERALD_NOTIFIER_SECRET_KEY"

// A delivery row keeps the user's webhook signing secret from consume time
// until the delivery is final, because the worker signs with it later and
// the users service shows it only to the notifier's policy query. It is
// stored sealed (internal/secretbox, bound to the delivery id so a value
// copied to another row does not open), opened only right before a send,
// and cleared when the delivery reaches SENT, FAILED or SKIPPED. Rows
// written before sealing existed hold the bare secret: LegacyPlain opens
// them as they are, so deliveries in flight across the upgrade still send.
var secretOptions = secretbox.Options{Name: "webhook secret", KeyVar: SecretKeyVar, LegacyPlain: true}

// NewSecretBox returns the box for a HERALD_NOTIFIER_SECRET_KEY value; an
// empty key stores secrets unencrypted ("plain:", development only).
func NewSecretBox(key string) (*secretbox.Box, error) {
	return secretbox.New(key, secretOptions)
}

// plainBox is what a Consumer or Worker without Secrets uses.
var plainBox, _ = NewSecretBox("")

func boxOr(b *secretbox.Box) *secretbox.Box {
	if b == nil {
		return plainBox
	}
	return b
}

// sealSecret returns the stored form of a delivery's secret ("" stays "":
// nothing to protect, and the channel refuses a missing secret by itself).
func sealSecret(b *secretbox.Box, id uuid.UUID, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	return boxOr(b).Seal(id.String(), secret)
}

// openSecret returns a delivery's secret for sending. A value that can
// never open (corrupt) is a permanent failure; one that a configured key
// could open (no key, a different key) is transient, so fixing
// HERALD_NOTIFIER_SECRET_KEY lets the retries send it. Either way nothing is
// sent unsigned.
func openSecret(b *secretbox.Box, id uuid.UUID, stored string) (string, error) {
	if stored == "" {
		return "", nil
	}
	s, err := boxOr(b).Open(id.String(), stored)
	switch {
	case err == nil:
		return s, nil
	// The key problem is the operator's (last_error, logs); the user sees
	// that the secret was unusable.
	case errors.Is(err, secretbox.ErrNoKey), errors.Is(err, secretbox.ErrDecrypt):
		return "", channel.WithReason(channel.Transient(err), ReasonSecretUnavailable)
	default:
		return "", channel.WithReason(channel.Permanent(err), ReasonSecretUnavailable)
	}
}
