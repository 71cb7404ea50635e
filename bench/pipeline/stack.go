package main

import (
	"context"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/internal/routerproc"
	"github.com/heraldhq/herald/internal/identity"
	table "github.com/heraldhq/herald/internal/stack"
	"github.com/heraldhq/herald/internal/testenv"
)

// stackConfig says how to wire the services.
type stackConfig struct {
	BinDir, LogDir string
	RunID          string
	Stream         string // kafka | nats
	Inf            *infra
	DSN            map[string]string
	// Extra is service → variable → value, applied last ("*" for all).
	Extra map[string]map[string]string
}

// stack is the services of the table in internal/stack running as
// processes (testenv.Stack), with the load's operator token.
type stack struct {
	*testenv.Stack
	RouterURL         string
	TopicOrderCreated string
	// Token is an operator's: the load registers users and orders for them.
	Token string
}

// startStack runs the services on reserved loopback ports and waits for
// each /healthz. Stop it with Stop.
func startStack(ctx context.Context, c stackConfig) (*stack, error) {
	signer, pubKey, err := routerproc.SigningKey(c.LogDir)
	if err != nil {
		return nil, err
	}
	token, err := signer.Mint("bench-operator", []string{identity.OperatorScope}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	stream := map[string]string{"HERALD_STREAM": c.Stream}
	if c.Stream == "kafka" {
		stream["HERALD_KAFKA_BROKERS"] = strings.Join(c.Inf.KafkaBrokers, ",")
	} else {
		stream["HERALD_NATS_URL"] = c.Inf.NATSURL
	}
	// The load generator is one caller (an operator): no rate limit, unless
	// -env says otherwise.
	extra := map[string]map[string]string{"router": {"HERALD_ROUTER_RATE_LIMIT": "0"}}
	for svc, vars := range c.Extra {
		if extra[svc] == nil {
			extra[svc] = map[string]string{}
		}
		for k, v := range vars {
			extra[svc][k] = v
		}
	}
	name := "pb" + c.RunID
	st, err := testenv.StartStack(ctx, testenv.StackConfig{BinDir: c.BinDir, LogDir: c.LogDir, Wiring: table.Wiring{
		DSN:      c.DSN,
		DBDriver: "postgres",
		Stream:   stream,
		Name:     name,
		SMTP:     table.SMTP{Addr: c.Inf.Mail.SMTPAddr, TLS: "starttls-required", CAFile: c.Inf.Mail.CAFile},
		Auth:     map[string]string{"HERALD_AUTH_PUBLIC_KEY_FILE": pubKey},
		Common:   map[string]string{"HERALD_LOG_LEVEL": "info"},
		Extra:    extra,
	}})
	if err != nil {
		return nil, err
	}
	return &stack{Stack: st, RouterURL: st.URL("router", "/graphql"), TopicOrderCreated: st.Wiring.Env("orders")["HERALD_TOPIC_ORDER_CREATED"], Token: token}, nil
}
