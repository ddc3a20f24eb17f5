// Package pgtest gives each test a brand-new PostgreSQL database, so that
// tests using PostgreSQL can run in parallel.
//
// When the environment variable ROLLCALL_TEST_DSN names a server, the
// databases are made there. Otherwise the first call to [DSN] in a test
// binary starts a throwaway cluster: initdb into a directory under
// os.TempDir, then pg_ctl start, listening only on a Unix socket in that
// directory, with durability off for speed. [Main] stops it and removes
// the directory when the tests are done, so a package that uses pgtest
// calls it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// pgtest never skips a test: when PostgreSQL cannot be found or started it
// fails the test with a line that says how to fix that.
package pgtest

import (
	"bytes"
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
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvDSN is the environment variable that names a PostgreSQL server to
// use instead of a throwaway cluster. Its role must be allowed to create
// databases.
const EnvDSN = "ROLLCALL_TEST_DSN"

// EnvDurable is the environment variable that, set to 1, starts the
// throwaway cluster with PostgreSQL's default durability (fsync,
// synchronous commit and full-page writes on), as benchmarks need. Tests
// leave it unset and run with durability off, for speed.
const EnvDurable = "ROLLCALL_TEST_PG_DURABLE"

// server is where the test databases are made.
type server struct {
	base  string        // DSN of the server's maintenance database
	admin *pgxpool.Pool // connected to base

	// A throwaway cluster has these set.
	dir     string     // temporary directory: data, socket and log
	pgCtl   string     // path of pg_ctl
	runAs   *user.User // user that runs PostgreSQL, or nil for this process's user
	running bool
}

var (
	mu     sync.Mutex
	srv    *server
	srvErr error // why the server could not be had; not retried
)

// DSN creates a new, empty database and returns a DSN for it. The
// database is dropped when tb ends. DSN fails tb if no PostgreSQL server
// can be had.
func DSN(tb testing.TB) string {
	tb.Helper()
	s, err := get()
	if err != nil {
		tb.Fatal(err)
	}
	name := "rollcall_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.drop(ctx, name); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(s.base, name)
}

// Main runs the tests, then stops the throwaway cluster (if one was
// started) and removes its directory, and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	s := srv
	srv = nil
	mu.Unlock()
	if s != nil {
		if err := s.close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// get returns the server, starting it on first use.
func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil || srvErr != nil {
		return srv, srvErr
	}
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		srv, srvErr = connect(dsn)
		if srvErr != nil {
			srvErr = fmt.Errorf("pgtest: cannot use the server named by %s: %v", EnvDSN, srvErr)
		}
	} else {
		srv, srvErr = startCluster()
	}
	return srv, srvErr
}

// connect returns a server whose maintenance database is at dsn.
func connect(dsn string) (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		return nil, err
	}
	return &server{base: dsn, admin: admin}, nil
}

// drop drops database name, closing any connections to it.
func (s *server) drop(ctx context.Context, name string) error {
	_, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42601" { // syntax error: before PostgreSQL 13
		_, err = s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
	}
	return err
}

// close disconnects and stops the throwaway cluster, if any.
func (s *server) close() error {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.dir == "" {
		return nil
	}
	var errs []error
	if s.running {
		out, err := s.command(s.pgCtl, "stop", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w").CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %v: %s", err, bytes.TrimSpace(out)))
		}
		s.running = false
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove cluster: %w", err))
	}
	return errors.Join(errs...)
}

// startCluster starts a throwaway cluster in a new directory under
// os.TempDir.
func startCluster() (_ *server, err error) {
	initdb, pgCtl, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &server{pgCtl: pgCtl}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		s.runAs, err = user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("pgtest: running as root and there is no postgres user to run PostgreSQL as: create one (useradd --system postgres) or set " + EnvDSN)
		}
	}
	sweep(pgCtl)
	s.dir, err = os.MkdirTemp(os.TempDir(), dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: make cluster directory: %w", err)
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.WriteFile(filepath.Join(s.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if s.runAs != nil {
		uid, gid, err := ids(s.runAs)
		if err != nil {
			return nil, err
		}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: give the cluster directory to user postgres: %w", err)
		}
	}

	data := filepath.Join(s.dir, "data")
	out, err := s.command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput()
	if err != nil {
		hint := ""
		if s.runAs != nil {
			hint = fmt.Sprintf(" (user postgres must be able to reach %s: set TMPDIR to a directory it can)", s.dir)
		}
		return nil, fmt.Errorf("pgtest: initdb failed%s: %v: %s", hint, err, tail(out, 10))
	}

	logFile := filepath.Join(s.dir, "postgres.log")
	opts := fmt.Sprintf("-p 5432 -k '%s' -c listen_addresses='' -c max_connections=200", s.dir)
	if os.Getenv(EnvDurable) != "1" {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	s.running = true // stop it even if pg_ctl gave up waiting
	out, err = s.command(pgCtl, "start", "-w", "-t", "60", "-D", data, "-l", logFile, "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("pgtest: PostgreSQL did not start (%v); set %s to use a running server instead. pg_ctl said: %s; server log:\n%s",
			err, EnvDSN, bytes.TrimSpace(out), tail(log, 20))
	}

	base := fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", s.dir)
	c, err := connect(base)
	if err != nil {
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("pgtest: connect to the throwaway cluster: %v; server log:\n%s", err, tail(log, 20))
	}
	s.base, s.admin = c.base, c.admin
	return s, nil
}

// dirPrefix starts the name of each cluster directory, and ownerFile in
// it holds the process ID of the test binary that made it.
const (
	dirPrefix = "rollcall-pgtest-"
	ownerFile = "owner.pid"
)

// sweep stops and removes the clusters left behind by test binaries that
// died without running [Main], for example when a test timed out.
func sweep(pgCtl string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being set up
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || alive(pid) {
			continue
		}
		old := &server{dir: dir, pgCtl: pgCtl, running: true}
		if os.Geteuid() == 0 {
			old.runAs, _ = user.Lookup("postgres")
		}
		old.close() // best effort
	}
}

// command returns a command that runs as the cluster's user in its
// directory, without the PG* variables of this process's environment.
func (s *server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if s.runAs != nil {
		uid, gid, _ := ids(s.runAs) // checked in startCluster
		runAs(cmd, uid, gid)
		cmd.Env = append(cmd.Env, "HOME="+s.runAs.HomeDir, "USER=postgres", "LOGNAME=postgres")
	}
	return cmd
}

// findBinaries returns the paths of initdb and pg_ctl: from PATH, or else
// from the newest /usr/lib/postgresql/*/bin (Debian and Ubuntu keep them
// there).
func findBinaries() (initdb, pgCtl string, err error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		ctl := filepath.Join(filepath.Dir(p), "pg_ctl")
		if _, err := os.Stat(ctl); err != nil {
			if ctl, err = exec.LookPath("pg_ctl"); err != nil {
				return "", "", errors.New("pgtest: pg_ctl not found next to " + p + " or on PATH: install PostgreSQL (apt-get install postgresql) or set " + EnvDSN)
			}
		}
		return p, ctl, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest first
		return version(dirs[i]) > version(dirs[j])
	})
	for _, dir := range dirs {
		initdb, pgCtl := filepath.Join(dir, "initdb"), filepath.Join(dir, "pg_ctl")
		if isFile(initdb) && isFile(pgCtl) {
			return initdb, pgCtl, nil
		}
	}
	return "", "", errors.New("pgtest: initdb not found: install PostgreSQL (apt-get install postgresql) or set " + EnvDSN)
}

// version returns the major version in a path like
// /usr/lib/postgresql/15/bin, as a number for sorting.
func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// ids returns u's numeric user and group IDs.
func ids(u *user.User) (uid, gid int, err error) {
	uid, err = strconv.Atoi(u.Uid)
	if err == nil {
		gid, err = strconv.Atoi(u.Gid)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: user %s has no numeric IDs: %w", u.Username, err)
	}
	return uid, gid, nil
}

// withDatabase returns dsn with its database replaced by name. It
// accepts URLs and keyword/value strings.
func withDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path, u.RawPath = "/"+name, ""
			return u.String()
		}
	}
	return dsn + " dbname=" + name // a later keyword wins
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
