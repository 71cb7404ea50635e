package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/bench/internal/proc"
	"github.com/heraldhq/herald/internal/testenv"
)

// infra is the real infrastructure of one run: taken from HERALD_TEST_*
// (as testinfra exports them) or started here and stopped by close.
type infra struct {
	KafkaBrokers []string
	NATSURL      string
	PostgresDSN  string // admin DSN
	Mail         *testenv.MailpitServer
	// Given names what came from the environment rather than this process.
	Given []string
	// pids are the infrastructure's processes found by their listening
	// ports (broker, postgres, mailpit), for CPU per order; those this
	// process cannot see are left out.
	pids map[string]int

	stops []func()
}

// startInfra takes or starts Kafka (or NATS), PostgreSQL and mailpit.
func startInfra(ctx context.Context, streamKind string, getenv func(string) string, log io.Writer) (*infra, error) {
	inf := &infra{}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	env := map[string]string{}
	// One at a time: the JVM start dominates, and on 2 cores a parallel
	// start gains little while making the timings noisier.
	display := map[string]string{"postgres": "PostgreSQL", "mailpit": "mailpit", "kafka": "Kafka", "nats": "NATS"}
	for _, name := range []string{"postgres", "mailpit", streamKind} {
		t0 := time.Now()
		how := "started"
		if v := getenv(testenv.PieceVar(name)); v != "" {
			how = "taken from the environment"
			inf.Given = append(inf.Given, display[name])
			for _, k := range []string{testenv.EnvKafkaBrokers, testenv.EnvPostgresDSN, testenv.EnvNATSURL, testenv.EnvMailpitSMTP, testenv.EnvMailpitAPI, testenv.EnvMailpitCA} {
				if v := getenv(k); v != "" {
					env[k] = v
				}
			}
		} else {
			started, stop, _, err := testenv.StartPiece(ctx, name)
			if err != nil {
				inf.close()
				return nil, fmt.Errorf("%s: %w", display[name], err)
			}
			inf.stops = append(inf.stops, func() { _ = stop() })
			maps.Copy(env, started)
		}
		fmt.Fprintf(log, "pipeline: %s %s in %s\n", display[name], how, time.Since(t0).Round(10*time.Millisecond))
	}
	if env[testenv.EnvMailpitAPI] == "" || env[testenv.EnvMailpitCA] == "" {
		inf.close()
		return nil, fmt.Errorf("mailpit: set all of %s, %s and %s, or none", testenv.EnvMailpitSMTP, testenv.EnvMailpitAPI, testenv.EnvMailpitCA)
	}
	inf.PostgresDSN, inf.NATSURL = env[testenv.EnvPostgresDSN], env[testenv.EnvNATSURL]
	if v := env[testenv.EnvKafkaBrokers]; v != "" {
		inf.KafkaBrokers = strings.Split(v, ",")
	}
	inf.Mail = testenv.MailpitAt(env[testenv.EnvMailpitSMTP], env[testenv.EnvMailpitAPI], env[testenv.EnvMailpitCA])
	inf.findPIDs(streamKind, log)
	return inf, nil
}

// findPIDs looks up the infrastructure's processes by the ports they
// listen on.
func (inf *infra) findPIDs(streamKind string, log io.Writer) {
	inf.pids = map[string]int{}
	addrs := map[string]string{"postgres": hostOf(inf.PostgresDSN), "mailpit": inf.Mail.SMTPAddr}
	if streamKind == "kafka" {
		addrs["kafka"] = inf.KafkaBrokers[0]
	} else {
		addrs["nats"] = hostOf(inf.NATSURL)
	}
	for name, addr := range addrs {
		_, port, err := net.SplitHostPort(addr)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			fmt.Fprintf(log, "pipeline: no CPU figure for %s (address %q)\n", name, addr)
			continue
		}
		pid, err := proc.ListenerPID(p)
		if err != nil {
			fmt.Fprintf(log, "pipeline: no CPU figure for %s: %v\n", name, err)
			continue
		}
		inf.pids[name] = pid
	}
}

// hostOf is the host:port of a URL or DSN.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func (inf *infra) close() {
	for i := len(inf.stops) - 1; i >= 0; i-- {
		inf.stops[i]()
	}
	inf.stops = nil
}

// databases makes one fresh database per name on the PostgreSQL server and
// returns their DSNs and a function dropping them.
func databases(ctx context.Context, adminDSN, runID string, names ...string) (map[string]string, func(), error) {
	dsns := map[string]string{}
	var drops []func(context.Context) error
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, d := range drops {
			_ = d(ctx)
		}
	}
	for _, n := range names {
		dsn, d, err := testenv.CreateDatabase(ctx, adminDSN, "bench_"+runID+"_"+n)
		if err != nil {
			drop()
			return nil, nil, err
		}
		dsns[n], drops = dsn, append(drops, d)
	}
	return dsns, drop, nil
}

// newRunID is short, lowercase and unique enough to name a run's topics,
// databases and recipients.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x%s", time.Now().Unix()%100000, hex.EncodeToString(b[:]))
}

// tempDir makes the run's folder (binaries, service logs).
func tempDir() (string, error) { return os.MkdirTemp("", "herald-bench-pipeline-") }
