package inproc

import (
	"testing"

	"github.com/heraldhq/herald/internal/stack"
)

// Every service of the table runs in process too, and nothing else does:
// a service added to the table without its in-process form (or removed
// from one list only) fails here.
func TestEveryServiceOfTheTable(t *testing.T) {
	for _, svc := range stack.Services {
		if parts[svc.Name] == nil {
			t.Errorf("stack.Services has %q, inproc has no part for it", svc.Name)
		}
	}
	for name := range parts {
		if _, ok := stack.Lookup(name); !ok {
			t.Errorf("inproc has a part %q that the stack table lacks", name)
		}
	}
}
