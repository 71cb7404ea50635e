package users

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/netguard/dnstest"
)

// A webhook name resolving inside is accepted (DNS can change; the notifier
// checks at dial time) but logged at once; a public one is not.
func TestWarnWebhookHost(t *testing.T) {
	res := dnstest.Resolver(t, map[string][]netip.Addr{
		"inside.example.com": {netip.MustParseAddr("127.0.0.1")},
		"public.example.com": {netip.MustParseAddr("93.184.215.14")},
	})
	for _, tc := range []struct {
		url, want string
	}{
		{"https://inside.example.com/h", "resolves to an address the notifier refuses"},
		{"https://missing.example.com/h", "does not resolve"},
		{"https://public.example.com/h", ""},
	} {
		var buf bytes.Buffer
		WarnWebhookHost(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)), res, tc.url, "u1", false)
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: logged %q, want %q", tc.url, got, tc.want)
		}
	}
}
