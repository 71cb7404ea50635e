package orders_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/db"
	"github.com/heraldhq/herald/internal/stream"
	"github.com/heraldhq/herald/subgraphs/orders"
)

// unusedBroker satisfies Deps.Broker; the refusal comes before any use.
type unusedBroker struct{ stream.Broker }

// A standalone orders subgraph on a public address without the subgraph
// secret refuses to start and names the settings that fix it.
func TestRunRefusesPublicAddressWithoutSecret(t *testing.T) {
	cfg := orders.Config{HTTPAddr: "0.0.0.0:0", DB: db.Settings{Driver: db.SQLite, DSN: filepath.Join(t.TempDir(), "orders.db")}}
	err := orders.Run(t.Context(), cfg, orders.Deps{Logger: logger(t), Broker: unusedBroker{}, Ready: func(a net.Addr) {
		t.Errorf("serving on %s without a secret", a)
	}})
	if err == nil || !strings.Contains(err.Error(), "HERALD_SUBGRAPH_SECRET") || !strings.Contains(err.Error(), "HERALD_SUBGRAPH_INSECURE") {
		t.Fatalf("Run = %v, want a refusal naming HERALD_SUBGRAPH_SECRET and HERALD_SUBGRAPH_INSECURE", err)
	}
}
