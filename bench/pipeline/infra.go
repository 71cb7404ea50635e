package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
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
	// A piece comes from its environment variable when set, else start
	// starts it and returns how to stop it.
	type piece struct {
		name, envVar string
		given        func(v string) error
		start        func() (stop func() error, err error)
	}
	pieces := []piece{
		{"PostgreSQL", testenv.EnvPostgresDSN, func(v string) error { inf.PostgresDSN = v; return nil }, func() (func() error, error) {
			s, err := testenv.StartPostgres(ctx)
			if err != nil {
				return nil, err
			}
			inf.PostgresDSN = s.AdminDSN
			return s.Close, nil
		}},
		{"mailpit", testenv.EnvMailpitSMTP, func(v string) error {
			inf.Mail = testenv.MailpitAt(v, getenv(testenv.EnvMailpitAPI), getenv(testenv.EnvMailpitCA))
			if inf.Mail.APIURL == "" || inf.Mail.CAFile == "" {
				return fmt.Errorf("set all of %s, %s and %s, or none", testenv.EnvMailpitSMTP, testenv.EnvMailpitAPI, testenv.EnvMailpitCA)
			}
			return nil
		}, func() (func() error, error) {
			m, err := testenv.StartMailpit(ctx)
			inf.Mail = m
			if err != nil {
				return nil, err
			}
			return m.Close, nil
		}},
	}
	if streamKind == "kafka" {
		pieces = append(pieces, piece{"Kafka", testenv.EnvKafkaBrokers, func(v string) error { inf.KafkaBrokers = strings.Split(v, ","); return nil }, func() (func() error, error) {
			k, err := testenv.StartKafka(ctx)
			if err != nil {
				return nil, err
			}
			inf.KafkaBrokers = k.Brokers
			return k.Close, nil
		}})
	} else {
		pieces = append(pieces, piece{"NATS", testenv.EnvNATSURL, func(v string) error { inf.NATSURL = v; return nil }, func() (func() error, error) {
			s, err := testenv.StartNATS(ctx)
			if err != nil {
				return nil, err
			}
			inf.NATSURL = s.URL
			return s.Close, nil
		}})
	}
	// One at a time: the JVM start dominates, and on 2 cores a parallel
	// start gains little while making the timings noisier.
	for _, p := range pieces {
		t0 := time.Now()
		how := "started"
		var err error
		if v := getenv(p.envVar); v != "" {
			how = "taken from the environment"
			inf.Given = append(inf.Given, p.name)
			err = p.given(v)
		} else {
			var stop func() error
			if stop, err = p.start(); err == nil {
				inf.stops = append(inf.stops, func() { _ = stop() })
			}
		}
		if err != nil {
			inf.close()
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(log, "pipeline: %s %s in %s\n", p.name, how, time.Since(t0).Round(10*time.Millisecond))
	}
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
