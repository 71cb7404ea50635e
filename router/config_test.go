package router

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// A Config built in code gets, for every setting whose zero value means
// "the default", what an empty environment gives LoadConfig: the defaults
// are declared once, in LoadConfig, and --help shows the same ones.
func TestWithDefaultsMatchesLoadConfig(t *testing.T) {
	loaded := LoadConfig(config.New(nil))
	for _, tc := range []struct {
		name string
		in   Config
	}{
		{"zero", Config{}},
		{"negative", Config{RequestTimeout: -time.Second, APQCacheBytes: -1, MetricsMaxOperations: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			if got.RequestTimeout != loaded.RequestTimeout || got.APQCacheBytes != loaded.APQCacheBytes ||
				got.MetricsMaxOperations != loaded.MetricsMaxOperations || got.Limits != loaded.Limits ||
				!slices.Equal(got.ForwardHeaders, loaded.ForwardHeaders) {
				t.Errorf("withDefaults() = timeout %v, APQ %d, metrics %d, limits %+v, forward %q;\nLoadConfig gives %v, %d, %d, %+v, %q",
					got.RequestTimeout, got.APQCacheBytes, got.MetricsMaxOperations, got.Limits, got.ForwardHeaders,
					loaded.RequestTimeout, loaded.APQCacheBytes, loaded.MetricsMaxOperations, loaded.Limits, loaded.ForwardHeaders)
			}
		})
	}
	// What a caller set is kept; an empty non-nil list forwards nothing.
	set := Config{RequestTimeout: time.Second, APQCacheBytes: 7, MetricsMaxOperations: 3, ForwardHeaders: []string{}}.withDefaults()
	if set.RequestTimeout != time.Second || set.APQCacheBytes != 7 || set.MetricsMaxOperations != 3 || set.ForwardHeaders == nil || len(set.ForwardHeaders) != 0 {
		t.Errorf("withDefaults changed set values: %+v", set)
	}
}
