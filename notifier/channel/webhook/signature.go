package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names set on every webhook request.
const (
	HeaderSignature  = "Herald-Signature"   // t=<unix seconds>,v1=<hex HMAC-SHA256>
	HeaderDeliveryID = "Herald-Delivery-Id" // stable across retries: the receiver's dedup key
	HeaderEventID    = "Herald-Event-Id"    // ce_id of the event behind the notification
	HeaderEventType  = "Herald-Event-Type"  // CloudEvents type of the payload
	HeaderAttempt    = "Herald-Attempt"     // 1-based attempt number (informational)
)

// SchemeV1 is the only signature scheme: HMAC-SHA256 keyed with the
// receiver's secret over "<t>.<raw body>", hex encoded.
const SchemeV1 = "v1"

// DefaultTolerance is a sensible clock-skew/replay window for Verify.
const DefaultTolerance = 5 * time.Minute

// Verification failures. Receivers should answer 400 (or 401) on any of
// them; Herald treats that as permanent and does not retry.
var (
	ErrNoSignature      = errors.New("webhook: no Herald-Signature header")
	ErrMalformed        = errors.New("webhook: malformed Herald-Signature header")
	ErrTimestampTooOld  = errors.New("webhook: signature timestamp outside the tolerance")
	ErrSignatureInvalid = errors.New("webhook: no signature matches the body")
)

// Sign returns the v1 signature (hex) of body at time t with secret.
func Sign(secret string, t time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader returns the Herald-Signature header value for body at t.
func SignatureHeader(secret string, t time.Time, body []byte) string {
	return "t=" + strconv.FormatInt(t.Unix(), 10) + "," + SchemeV1 + "=" + Sign(secret, t, body)
}

// Verify checks a Herald-Signature header against the raw request body, as
// a webhook receiver must before trusting a request. The timestamp must lie
// within tolerance of now (either side, to allow clock skew), which bounds
// how long a captured request can be replayed; receivers that must never
// act twice should also remember Herald-Delivery-Id. The header may carry
// several v1 entries (e.g. during a secret rotation): one match is enough.
// Comparison is constant-time. A tolerance <= 0 disables the age check.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return ErrNoSignature
	}
	var (
		ts     int64
		haveTS bool
		sigs   [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return ErrMalformed
			}
			ts, haveTS = n, true
		case SchemeV1:
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrMalformed
			}
			sigs = append(sigs, b)
		default:
			// Unknown schemes are ignored so a future scheme can be added
			// beside v1 without breaking existing receivers.
		}
	}
	if !haveTS || len(sigs) == 0 {
		return ErrMalformed
	}
	signedAt := time.Unix(ts, 0)
	if tolerance > 0 {
		if d := now.Sub(signedAt); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed at %s, now %s", ErrTimestampTooOld, signedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	want, err := hex.DecodeString(Sign(secret, signedAt, body))
	if err != nil {
		return err
	}
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureInvalid
}
