package webhook_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifier/channel/webhook"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary tests;
// `go test -run '^$' -fuzz FuzzX -fuzztime 30s ./notifier/channel/webhook/`
// explores further.

// FuzzVerifyHeader feeds arbitrary Herald-Signature headers to Verify: it
// never panics, fails only with its documented errors, and never accepts a
// header that was not made with the secret (a fuzzer cannot forge an HMAC,
// so any acceptance of a header not produced by SignatureHeader is a bug).
func FuzzVerifyHeader(f *testing.F) {
	const secret = "fuzz-secret"
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		for _, tol := range []time.Duration{0, webhook.DefaultTolerance} {
			err := webhook.Verify(secret, header, body, now, tol)
			switch {
			case err == nil:
				t.Fatalf("Verify accepted a header the fuzzer made up: %q (body %q, tolerance %s)", header, body, tol)
			case errors.Is(err, webhook.ErrNoSignature), errors.Is(err, webhook.ErrMalformed),
				errors.Is(err, webhook.ErrTimestampTooOld), errors.Is(err, webhook.ErrSignatureInvalid):
			default:
				t.Fatalf("Verify(%q) = %v, not one of the documented errors", header, err)
			}
		}
	})
}

// FuzzVerifyRoundTrip checks that Verify accepts exactly what
// SignatureHeader produces for the same secret, body and time, and rejects
// the same header over any changed body.
func FuzzVerifyRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, secret string, body []byte, unix int64, pos uint, flip byte) {
		at := time.Unix(unix, 0)
		header := webhook.SignatureHeader(secret, at, body)
		for _, tol := range []time.Duration{0, webhook.DefaultTolerance} {
			if err := webhook.Verify(secret, header, body, at, tol); err != nil {
				t.Fatalf("Verify rejected its own header %q (tolerance %s): %v", header, tol, err)
			}
		}
		// Sign and Verify must agree with the header on the signature.
		if want := "t=" + strconv.FormatInt(unix, 10) + ",v1=" + webhook.Sign(secret, at, body); header != want {
			t.Fatalf("SignatureHeader = %q, want %q", header, want)
		}

		changed := append([]byte(nil), body...)
		if len(changed) == 0 || flip == 0 {
			changed = append(changed, flip) // a longer body
		} else {
			changed[pos%uint(len(changed))] ^= flip
		}
		err := webhook.Verify(secret, header, changed, at, webhook.DefaultTolerance)
		if !errors.Is(err, webhook.ErrSignatureInvalid) {
			t.Fatalf("Verify over a changed body %q (signed %q) = %v, want ErrSignatureInvalid", changed, body, err)
		}
		if len(body) > 0 {
			err = webhook.Verify(secret, header, body[:len(body)-1], at, webhook.DefaultTolerance)
			if !errors.Is(err, webhook.ErrSignatureInvalid) {
				t.Fatalf("Verify over a truncated body = %v, want ErrSignatureInvalid", err)
			}
		}
	})
}
