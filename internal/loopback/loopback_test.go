package loopback_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/loopback"
)

func TestHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"localhost.", true},
		{"api.localhost", true},
		{"API.LOCALHOST.", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"[::1]", true},
		{"::ffff:127.0.0.1", true},
		{"0:0:0:0:0:0:0:1", true},
		{"", false},
		{".", false},
		{"localhost.example.com", false},
		{"notlocalhost", false},
		{"127.0.0.1.example.com", false},
		{"128.0.0.1", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"example.com", false},
	}
	for _, tc := range tests {
		if got := loopback.Host(tc.host); got != tc.want {
			t.Errorf("Host(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
