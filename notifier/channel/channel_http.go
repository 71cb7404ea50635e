package channel

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP helpers shared by the channels that call HTTP APIs (SMS, webhook).

// MaxRetryAfter caps a provider's Retry-After. The delivery's age limit
// (HERALD_DELIVERY_MAX_AGE, default 24h) ends it long before a longer wait
// would; the cap also keeps an absurd value from overflowing a Duration.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads an HTTP Retry-After header value (RFC 9110 §10.2.3):
// either delay-seconds (digits only) or an HTTP-date, relative to now. It
// returns 0 for an empty, malformed or negative value and for a date that is
// not in the future, and caps the result at MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n >= uint64(MaxRetryAfter/time.Second) { // only a range error is possible here
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return min(t.Sub(now), MaxRetryAfter)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
