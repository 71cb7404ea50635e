package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresServer is a throwaway PostgreSQL cluster made with initdb.
type PostgresServer struct {
	// AdminDSN connects as the superuser to the "postgres" database.
	AdminDSN string
	// Dir holds the cluster, its socket and postgres.log.
	Dir string

	mu   sync.Mutex
	proc *Proc
	// what start needs to run the server again (Kill, Start)
	bin, data, logPath string
	port               int
	cred               *syscall.Credential
}

var sharedPostgres shared[string]

// Postgres returns the DSN of a new, empty database, dropped when the test ends. The database
// lives on the server named by HERALD_TEST_POSTGRES_DSN (an admin DSN), else on a cluster this
// test process starts on first use.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgresDSN)
	if admin == "" {
		admin = sharedPostgres.get(t, "PostgreSQL", EnvPostgresDSN, func(ctx context.Context) (string, func(), error) {
			s, err := StartPostgres(ctx)
			if err != nil {
				return "", nil, err
			}
			return s.AdminDSN, func() { _ = s.Close() }, nil
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, drop, err := CreateDatabase(ctx, admin, databaseName(t.Name()))
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return dsn
}

// CreateDatabase makes the database name on the server of adminDSN and returns its DSN and a
// function that drops it.
func CreateDatabase(ctx context.Context, adminDSN, name string) (dsn string, drop func(context.Context) error, err error) {
	dsn, err = withDatabase(adminDSN, name)
	if err != nil {
		return "", nil, err
	}
	if err := execAdmin(ctx, adminDSN, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return dsn, func(ctx context.Context) error {
		// FORCE: a pool the test forgot to close must not keep the database alive.
		if err := execAdmin(ctx, adminDSN, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}, nil
}

// databaseName makes a unique, valid identifier that still says which test made it.
func databaseName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	prefix := b.String()
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	return "t_" + prefix + "_" + hex.EncodeToString(rnd[:])
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

// withDatabase returns dsn pointing at another database, for URL and keyword/value DSNs.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvPostgresDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// keyword/value form: a later key wins.
	return dsn + " dbname=" + name, nil
}

// StartPostgres makes a cluster with initdb in a fresh folder and runs it on a free loopback
// port, with its unix socket in that folder. Debian's server binaries are used
// (/usr/lib/postgresql/<version>/bin, the newest). As root, initdb and postgres refuse to run, so
// they run as the postgres user, which then owns the folder. fsync stays on: benchmarks that
// use this cluster measure honest commit rates.
func StartPostgres(ctx context.Context) (*PostgresServer, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := newDir("postgres")
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{Dir: dir}
	fail := func(err error) (*PostgresServer, error) {
		if s.proc != nil {
			s.proc.Kill()
		}
		keepDir(dir)
		return nil, fmt.Errorf("%w (files in %s)", err, dir)
	}

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root needs the postgres user (Debian's postgresql package makes it): %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}

	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C",
		"--no-sync", // the cluster is thrown away: no need to flush its template files
	)
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out))))
	}

	ports, err := FreePorts(1)
	if err != nil {
		return fail(err)
	}
	s.bin, s.data, s.port, s.cred = bin, data, ports[0], cred
	s.logPath = filepath.Join(dir, "postgres.log")
	if f, err := os.Create(s.logPath); err == nil {
		f.Close()
	}
	s.AdminDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	if err := s.start(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// start runs the server on the cluster and waits until it answers.
func (s *PostgresServer) start(ctx context.Context) error {
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", s.data,
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.Dir,
		"-c", "max_connections=200",
		"-c", "logging_collector=off",
	)
	cmd.Dir = s.Dir
	p, err := StartProc("postgres", cmd, s.logPath, s.cred)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = poll(ctx, p, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, s.AdminDSN)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.Ping(ctx)
	})
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w\n%s", err, logTail(s.logPath, 15))
	}
	return nil
}

// Kill ends the postmaster at once (SIGKILL), as a crash would; its
// backends notice and exit. Start brings the cluster back.
func (s *PostgresServer) Kill() {
	if p := s.process(); p != nil {
		p.Kill()
	}
}

// process is the running postmaster, or nil.
func (s *PostgresServer) process() *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Start runs a killed cluster again on the same port and data folder (crash
// recovery included) and waits until it answers. Backends of the killed
// postmaster may hold its shared memory for a moment: the server refuses to
// start until they are gone, so Start tries again until ctx ends.
func (s *PostgresServer) Start(ctx context.Context) error {
	for {
		err := s.start(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close stops the cluster (fast shutdown) and removes its folder.
func (s *PostgresServer) Close() error {
	if p := s.process(); p != nil {
		p.Signal(syscall.SIGINT, 30*time.Second)
	}
	return removeDir(s.Dir)
}

// postgresBin finds the newest /usr/lib/postgresql/<version>/bin with initdb in it.
func postgresBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install the postgresql package")
	}
	version := func(p string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return v
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return filepath.Dir(matches[0]), nil
}
