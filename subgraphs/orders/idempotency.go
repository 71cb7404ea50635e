package orders

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Idempotency keys are chosen by clients (typically a UUID per checkout
// attempt) and scoped to the user: (user_id, idempotency_key) is unique in
// the database, which is what makes concurrent retries safe.
const maxIdempotencyKeyLen = 200

// validIdempotencyKey accepts 1 to maxIdempotencyKeyLen printable ASCII
// characters without spaces: keys are compared byte for byte, so nothing
// that looks alike but differs (Unicode forms, trailing blanks) may enter.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// canonicalOrder is the part of a request that decides "the same order":
// what is stored, after validation normalised it (sku and name trimmed).
// The idempotency key itself is not part of it. Field order is fixed by the
// struct, so the JSON encoding is canonical; it is versioned so a future
// change of what counts can be told apart from a different payload.
type canonicalOrder struct {
	Version  int             `json:"v"`
	UserID   string          `json:"userId"`
	Currency string          `json:"currency"`
	Items    []canonicalItem `json:"items"`
}

type canonicalItem struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unitPriceMinor"`
}

// RequestHash is the hex SHA-256 of a validated draft's canonical JSON.
// Two drafts hash alike exactly when they would store the same order (the
// same user, currency and lines in the same order); JSON escaping keeps the
// encoding unambiguous whatever the strings contain.
func RequestHash(d Draft) string {
	c := canonicalOrder{Version: 1, UserID: d.UserID, Currency: d.Currency, Items: make([]canonicalItem, len(d.Items))}
	for i, it := range d.Items {
		c.Items[i] = canonicalItem{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitPriceMinor: it.UnitPriceMinor}
	}
	b, err := json.Marshal(c)
	if err != nil {
		// Only strings and integers: Marshal cannot fail (invalid UTF-8
		// is replaced, and validation refuses it anyway).
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
