package users

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// cursor is a position in the users connection's (created_at, id) order.
// Clients see it base64url-encoded and must treat it as opaque; the "v"
// field lets the format change without misreading old cursors.
type cursor struct {
	V         int       `json:"v"`
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

func encodeCursor(createdAt time.Time, id string) string {
	b, _ := json.Marshal(cursor{V: 1, CreatedAt: createdAt.UTC(), ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, err
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return cursor{}, err
	}
	if c.V != 1 || c.ID == "" || c.CreatedAt.IsZero() {
		return cursor{}, errors.New("not a v1 users cursor")
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}
