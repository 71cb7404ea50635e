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

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/bench/internal/proc"
	"github.com/heraldhq/herald/internal/testenv"
)

// infra is the real infrastructure of one run: taken from HERALD_TEST_*
// (as testinfra exports them) or started here and stopped by close.
type infra struct {
	KafkaBrokers []string
	NATSURL      string
	PostgresDSN  string // admin DSN
	MailSMTP     string
	MailAPI      string
	MailCA       string
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
	type piece struct {
		name  string
		given bool
		start func() error
	}
	pieces := []piece{
		{"PostgreSQL", getenv(testenv.EnvPostgresDSN) != "", func() error {
			if v := getenv(testenv.EnvPostgresDSN); v != "" {
				inf.PostgresDSN = v
				return nil
			}
			s, err := testenv.StartPostgres(ctx)
			if err != nil {
				return err
			}
			inf.PostgresDSN = s.AdminDSN
			inf.stops = append(inf.stops, func() { _ = s.Close() })
			return nil
		}},
		{"mailpit", getenv(testenv.EnvMailpitSMTP) != "", func() error {
			if v := getenv(testenv.EnvMailpitSMTP); v != "" {
				inf.MailSMTP, inf.MailAPI, inf.MailCA = v, strings.TrimRight(getenv(testenv.EnvMailpitAPI), "/"), getenv(testenv.EnvMailpitCA)
				if inf.MailAPI == "" || inf.MailCA == "" {
					return fmt.Errorf("set all of %s, %s and %s, or none", testenv.EnvMailpitSMTP, testenv.EnvMailpitAPI, testenv.EnvMailpitCA)
				}
				return nil
			}
			m, err := testenv.StartMailpit(ctx)
			if err != nil {
				return err
			}
			inf.MailSMTP, inf.MailAPI, inf.MailCA = m.SMTPAddr, m.APIURL, m.CAFile
			inf.stops = append(inf.stops, func() { _ = m.Close() })
			return nil
		}},
	}
	if streamKind == "kafka" {
		pieces = append(pieces, piece{"Kafka", getenv(testenv.EnvKafkaBrokers) != "", func() error {
			if v := getenv(testenv.EnvKafkaBrokers); v != "" {
				inf.KafkaBrokers = strings.Split(v, ",")
				return nil
			}
			k, err := testenv.StartKafka(ctx)
			if err != nil {
				return err
			}
			inf.KafkaBrokers = k.Brokers
			inf.stops = append(inf.stops, func() { _ = k.Close() })
			return nil
		}})
	} else {
		pieces = append(pieces, piece{"NATS", getenv(testenv.EnvNATSURL) != "", func() error {
			if v := getenv(testenv.EnvNATSURL); v != "" {
				inf.NATSURL = v
				return nil
			}
			s, err := testenv.StartNATS(ctx)
			if err != nil {
				return err
			}
			inf.NATSURL = s.URL
			inf.stops = append(inf.stops, func() { _ = s.Close() })
			return nil
		}})
	}
	// One at a time: the JVM start dominates, and on 2 cores a parallel
	// start gains little while making the timings noisier.
	for _, p := range pieces {
		t0 := time.Now()
		if err := p.start(); err != nil {
			inf.close()
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		how := "started"
		if p.given {
			how = "taken from the environment"
			inf.Given = append(inf.Given, p.name)
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
	addrs := map[string]string{"postgres": hostOf(inf.PostgresDSN), "mailpit": inf.MailSMTP}
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
	var made []string
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, db := range made {
			_ = execAdmin(ctx, adminDSN, `DROP DATABASE IF EXISTS `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`)
		}
	}
	for _, n := range names {
		db := "bench_" + runID + "_" + n
		if err := execAdmin(ctx, adminDSN, `CREATE DATABASE `+pgx.Identifier{db}.Sanitize()); err != nil {
			drop()
			return nil, nil, fmt.Errorf("create database %s: %w", db, err)
		}
		made = append(made, db)
		dsn, err := withDatabase(adminDSN, db)
		if err != nil {
			drop()
			return nil, nil, err
		}
		dsns[n] = dsn
	}
	return dsns, drop, nil
}

func execAdmin(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase points a URL or keyword/value DSN at another database.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse PostgreSQL DSN: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
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
