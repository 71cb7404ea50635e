package testenv

import (
	"context"
	"fmt"
	"strings"
)

// piece is one server of the shared infrastructure: the variable that names one started
// elsewhere, and how to start one here.
type piece struct {
	envVar string
	start  func(context.Context) (env map[string]string, stop func() error, dir string, err error)
}

var pieces = map[string]piece{
	"kafka": {EnvKafkaBrokers, func(ctx context.Context) (map[string]string, func() error, string, error) {
		k, err := StartKafka(ctx)
		if err != nil {
			return nil, nil, "", err
		}
		return map[string]string{EnvKafkaBrokers: strings.Join(k.Brokers, ",")}, k.Close, k.Dir, nil
	}},
	"postgres": {EnvPostgresDSN, func(ctx context.Context) (map[string]string, func() error, string, error) {
		s, err := StartPostgres(ctx)
		if err != nil {
			return nil, nil, "", err
		}
		return map[string]string{EnvPostgresDSN: s.AdminDSN}, s.Close, s.Dir, nil
	}},
	"nats": {EnvNATSURL, func(ctx context.Context) (map[string]string, func() error, string, error) {
		s, err := StartNATS(ctx)
		if err != nil {
			return nil, nil, "", err
		}
		return map[string]string{EnvNATSURL: s.URL}, s.Close, s.Dir, nil
	}},
	"mailpit": {EnvMailpitSMTP, func(ctx context.Context) (map[string]string, func() error, string, error) {
		m, err := StartMailpit(ctx)
		if err != nil {
			return nil, nil, "", err
		}
		return map[string]string{EnvMailpitSMTP: m.SMTPAddr, EnvMailpitAPI: m.APIURL, EnvMailpitCA: m.CAFile}, m.Close, m.Dir, nil
	}},
}

// PieceVar is the variable (HERALD_TEST_*) that names a piece of the shared infrastructure
// (kafka, postgres, nats or mailpit) started elsewhere; "" for an unknown piece.
func PieceVar(name string) string { return pieces[name].envVar }

// StartPiece starts one piece of the shared infrastructure (kafka, postgres, nats or mailpit)
// on reserved loopback ports. It returns the HERALD_TEST_* variables naming it, how to stop it
// (and remove its folder, unless HERALD_TEST_KEEP=1) and its folder. testinfra and the
// pipeline benchmark start their infrastructure with it.
func StartPiece(ctx context.Context, name string) (env map[string]string, stop func() error, dir string, err error) {
	p, ok := pieces[name]
	if !ok {
		return nil, nil, "", fmt.Errorf("unknown piece %q (want kafka, postgres, nats, mailpit)", name)
	}
	return p.start(ctx)
}
