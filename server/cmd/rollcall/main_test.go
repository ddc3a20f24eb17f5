package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/pki"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

// buildAgent builds the real agent binary once per test run.
func buildAgent(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rollcall-agent-bin-")
		if err != nil {
			agentErr = err
			return
		}
		agentBin = filepath.Join(dir, "rollcall-agent")
		out, err := exec.Command("go", "build", "-o", agentBin, "github.com/rollcall/rollcall/agent/cmd/rollcall-agent").CombinedOutput()
		if err != nil {
			agentErr = err
			agentBin = string(out)
		}
	})
	if agentErr != nil {
		t.Fatalf("build agent: %v\n%s", agentErr, agentBin)
	}
	return agentBin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cli runs one rollcall command in-process and returns its stdout.
func cli(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"rollcall"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	if err != nil {
		return stdout.String(), &cliError{err: err, stderr: stderr.String()}
	}
	return strings.TrimSpace(stdout.String()), nil
}

type cliError struct {
	err    error
	stderr string
}

func (e *cliError) Error() string { return message(e.err) + "\n" + e.stderr }

// serve starts `rollcall serve` in-process and waits for /healthz.
func serve(t *testing.T, env map[string]string, httpAddr string, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stderr := &lockedBuffer{}
	go func() {
		done <- run(ctx, append([]string{"rollcall", "serve"}, args...), func(k string) string { return env[k] }, &lockedBuffer{}, stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("serve did not answer /healthz in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines to
// write while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// agent runs the agent binary and returns its combined output.
func agent(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, buildAgent(t), args...).CombinedOutput()
	return string(out), err
}

// TestCLISequence follows the operator's path from the README: serve, add
// a technician, make tokens, enrol an agent, check in, query REST; then
// stop the server, queue a check-in, restart and deliver it once.
func TestCLISequence(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dataDir, agentDir := t.TempDir(), t.TempDir()
			env := map[string]string{}
			agentAddr, httpAddr := freeAddr(t), freeAddr(t)
			serveArgs := []string{"--data-dir", dataDir, "--agent-addr", agentAddr, "--http-addr", httpAddr}
			var dsn string
			if backend == "postgres" {
				dsn = pgtest.DSN(t)
				serveArgs = append(serveArgs, "--db", dsn)
			}
			stop := serve(t, env, httpAddr, serveArgs...)

			password, err := cli(t, env, "user", "add", "--data-dir", dataDir, "--email", "Tech@School.example", "--name", "Tess Tech", "--role", "technician")
			if err != nil {
				t.Fatal(err)
			}
			if len(password) < 16 || strings.ContainsAny(password, " \n") {
				t.Errorf("password %q: want one line", password)
			}
			if _, err := cli(t, env, "user", "add", "--data-dir", dataDir, "--email", "tech@school.example", "--name", "Again", "--role", "technician"); err == nil || !strings.Contains(err.Error(), "tech@school.example") {
				t.Errorf("duplicate user: %v", err)
			}
			if _, err := cli(t, env, "user", "add", "--data-dir", dataDir, "--email", "x@school.example", "--name", "X", "--role", "wizard"); err == nil || !strings.Contains(err.Error(), "unknown role") {
				t.Errorf("bad role: %v", err)
			}
			apiToken, err := cli(t, env, "api-token", "create", "--data-dir", dataDir, "--email", "tech@school.example")
			if err != nil {
				t.Fatal(err)
			}
			enrollToken, err := cli(t, env, "enroll-token", "create", "--data-dir", dataDir, "--uses", "1", "--ttl", "1h")
			if err != nil {
				t.Fatal(err)
			}

			if out, err := agent(t, "enroll", "--token", enrollToken, "--data-dir", agentDir); err != nil {
				t.Fatalf("enroll: %v\n%s", err, out)
			}
			out, err := agent(t, "enroll", "--token", enrollToken, "--data-dir", t.TempDir())
			if err == nil || !strings.Contains(out, "used 1 of 1") {
				t.Errorf("second use of a single-use token: err=%v\n%s", err, out)
			}
			if out, err := agent(t, "run", "--once", "--data-dir", agentDir); err != nil || !strings.Contains(out, "Checked in") {
				t.Fatalf("run --once: %v\n%s", err, out)
			}

			req, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/devices", nil)
			req.Header.Set("Authorization", "Bearer "+apiToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var list struct {
				Items []map[string]any `json:"items"`
				Next  string           `json:"next"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(list.Items) != 1 {
				t.Fatalf("REST lists %d devices, want 1", len(list.Items))
			}
			host, _ := os.Hostname()
			if d := list.Items[0]; d["hostname"] != host || d["os_name"] == "" {
				t.Errorf("device = %v, want hostname %q and an OS", d, host)
			}
			deviceID := list.Items[0]["id"].(string)

			// Server down: the check-in and its event are queued.
			stop()
			out, err = agent(t, "run", "--once", "--data-dir", agentDir)
			if err == nil || !strings.Contains(out, "cannot reach") || !strings.Contains(out, "queued") {
				t.Fatalf("run --once with the server down: err=%v\n%s", err, out)
			}

			// Restart with only the data dir: serve remembers the database and addresses.
			stop = serve(t, env, httpAddr, "--data-dir", dataDir)
			if out, err := agent(t, "run", "--once", "--data-dir", agentDir); err != nil {
				t.Fatalf("run --once after restart: %v\n%s", err, out)
			}
			stop()

			s, err := app.OpenStore(context.Background(), dataDir, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			events, err := s.FindEvents(context.Background(), inventory.EventFilter{DeviceID: uuid.MustParse(deviceID)})
			if err != nil {
				t.Fatal(err)
			}
			// Three runs of `run --once`, each queuing one agent.started event.
			if len(events) != 3 {
				t.Errorf("%d events stored, want 3 (one per run, none twice)", len(events))
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{}
	dataDir, emptyDir := t.TempDir(), t.TempDir()
	if _, err := pki.LoadOrCreateCA(dataDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"Unknown", []string{"frobnicate"}, "unknown command"},
		{"UserMissingFlags", []string{"user", "add", "--data-dir", dataDir}, "give --email"},
		{"BadEmail", []string{"user", "add", "--data-dir", dataDir, "--email", "nope", "--name", "N", "--role", "staff"}, "not an email address"},
		{"APITokenNoUser", []string{"api-token", "create", "--data-dir", dataDir, "--email", "ghost@school.example"}, "no user ghost@school.example"},
		{"EnrollNoServer", []string{"enroll-token", "create", "--data-dir", emptyDir, "--advertise", "h:1"}, "holds no Rollcall CA"},
		{"EnrollNoAddress", []string{"enroll-token", "create", "--data-dir", dataDir}, "agent address is unknown"},
		{"EnrollBadUses", []string{"enroll-token", "create", "--data-dir", dataDir, "--uses", "0", "--advertise", "h:1"}, "uses"},
		{"EnrollNoSchool", []string{"enroll-token", "create", "--data-dir", dataDir, "--school", "nowhere", "--advertise", "h:1"}, `no school "nowhere"`},
		{"BadDB", []string{"migrate", "--data-dir", dataDir, "--db", "mysql://x"}, "give a postgres:// URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cli(t, env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if left, _ := os.ReadDir(emptyDir); len(left) > 0 {
				t.Errorf("a refused command left %s in a directory that is not a server's", left[0].Name())
			}
		})
	}
}
