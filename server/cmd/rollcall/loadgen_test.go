package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/agent/client"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/pki"
)

// TestLoadgen_CLI enrols agents for real and in bulk against `rollcall
// serve` and runs scenarios with them.
func TestLoadgen_CLI(t *testing.T) {
	dataDir, dir := t.TempDir(), t.TempDir()
	env := map[string]string{}
	agentAddr, httpAddr := freeAddr(t), freeAddr(t)
	stop := serve(t, env, httpAddr, "--data-dir", dataDir, "--agent-addr", agentAddr, "--http-addr", httpAddr)
	defer stop()

	token, err := cli(t, env, "enroll-token", "create", "--data-dir", dataDir, "--uses", "5", "--ttl", "1h")
	if err != nil {
		t.Fatal(err)
	}
	fleet := filepath.Join(dir, "real.json")
	if _, err := cli(t, env, "loadgen", "enrol", "--fleet", fleet, "-n", "5", "--token", token, "--workers", "2"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fleet); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("fleet file: %v %v", err, st)
	}
	if _, err := cli(t, env, "loadgen", "enrol", "--fleet", fleet, "-n", "1", "--token", token); err == nil || !strings.Contains(err.Error(), "holds a fleet already") {
		t.Errorf("enrol into an existing fleet file: %v", err)
	}

	out, err := cli(t, env, "loadgen", "run", "--fleet", fleet, "--scenario", "heartbeat", "--rate", "20", "--duration", "1s", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Sent, OK, Failed, Handshakes int64
		Latency                      struct {
			P50 float64 `json:"p50_ms"`
			P95 float64 `json:"p95_ms"`
			Max float64 `json:"max_ms"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	if res.Sent != 20 || res.OK != 20 || res.Failed != 0 || res.Handshakes != 5 || res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P95 || res.Latency.P95 > res.Latency.Max {
		t.Errorf("heartbeat run: %+v", res)
	}

	ids := filepath.Join(dir, "events.tsv")
	out, err = cli(t, env, "loadgen", "run", "--fleet", fleet, "--addr", agentAddr, "--scenario", "events", "--count", "10", "--events-per-call", "3", "--event-ids", ids)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "10 sent, 10 ok, 0 failed") || !strings.Contains(out, "p99") {
		t.Errorf("events run printed:\n%s", out)
	}
	b, err := os.ReadFile(ids)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 10 || len(lines) > 30 || !strings.HasSuffix(lines[0], "\tacknowledged") || len(strings.Split(lines[0], "\t")) != 3 {
		t.Errorf("%d event lines, first %q", len(lines), lines[0])
	}

	// Bulk, next to the running server, on its data directory.
	bulk := filepath.Join(dir, "bulk.json")
	if _, err := cli(t, env, "loadgen", "enrol", "--mode", "bulk", "-n", "50", "--data-dir", dataDir, "--fleet", bulk); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, env, "loadgen", "run", "--fleet", bulk, "--scenario", "storm", "--workers", "8", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.OK != 50 || res.Failed != 0 {
		t.Errorf("storm on the bulk fleet: %v %+v", err, res)
	}
	out, err = cli(t, env, "audit", "verify", "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("audit verify after a bulk load: %v", err)
	}

	// A fleet that names a server elsewhere is not sent to.
	remote := filepath.Join(dir, "remote.json")
	b, err = os.ReadFile(fleet)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), `"server":"`+agentAddr+`"`, `"server":"192.0.2.7:8443"`, 1))
	if err := os.WriteFile(remote, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, env, "loadgen", "run", "--fleet", remote, "--scenario", "heartbeat", "--count", "1"); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("fleet of a remote server: %v", err)
	}
}

func TestLoadgen_UsageErrors(t *testing.T) {
	env := map[string]string{}
	dir, emptyDir := t.TempDir(), t.TempDir()
	caDir := t.TempDir()
	if _, err := pki.LoadOrCreateCA(caDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "exists.json")
	if err := os.WriteFile(existing, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet := filepath.Join(dir, "new.json")
	// A well-formed token for an address nothing listens on.
	token, err := client.EncodeToken(&agentv1.EnrollmentToken{AgentAddress: "127.0.0.1:1", CaPin: make([]byte, 32), TokenId: "t", Secret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	remoteToken, err := client.EncodeToken(&agentv1.EnrollmentToken{AgentAddress: "school-server:8443", CaPin: make([]byte, 32), TokenId: "t", Secret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	enrol := func(args ...string) []string { return append([]string{"loadgen", "enrol"}, args...) }
	runArgs := func(args ...string) []string {
		return append([]string{"loadgen", "run", "--fleet", existing, "--scenario", "heartbeat"}, args...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"Unknown", []string{"loadgen", "frobnicate"}, `unknown loadgen command "frobnicate"`},
		{"EnrolNoFleet", enrol("-n", "5", "--token", token), "--fleet: give the file"},
		{"EnrolNoN", enrol("--fleet", fleet, "--token", token), "-n 0: give 1 to"},
		{"EnrolHugeN", enrol("--fleet", fleet, "-n", "2000000", "--token", token), "-n 2000000"},
		{"EnrolBadWorkers", enrol("--fleet", fleet, "-n", "5", "--token", token, "--workers", "0"), "--workers 0"},
		{"EnrolFleetExists", enrol("--fleet", existing, "-n", "5", "--token", token), "--fleet: fleet file exists"},
		{"EnrolNoFolder", enrol("--fleet", filepath.Join(dir, "nowhere", "f.json"), "-n", "5", "--token", token), "no folder"},
		{"EnrolNoToken", enrol("--fleet", fleet, "-n", "5"), "--token: give an enrolment token with at least 5 uses"},
		{"EnrolBadToken", enrol("--fleet", fleet, "-n", "5", "--token", "hello"), "--token: enrolment token must start with rc1_"},
		{"EnrolRealWithDataDir", enrol("--fleet", fleet, "-n", "5", "--token", token, "--data-dir", caDir), "are for --mode bulk"},
		{"EnrolRemoteAddr", enrol("--fleet", fleet, "-n", "5", "--token", token, "--addr", "10.1.2.3:8443"), "--addr: address 10.1.2.3:8443 is not on this machine"},
		{"EnrolRemoteToken", enrol("--fleet", fleet, "-n", "5", "--token", remoteToken), "the token's agent address school-server:8443 is not on this machine: give --addr"},
		{"EnrolBadMode", enrol("--fleet", fleet, "-n", "5", "--mode", "fast"), `--mode "fast": give real or bulk`},
		{"EnrolBulkWithToken", enrol("--fleet", fleet, "-n", "5", "--mode", "bulk", "--token", token), "are for --mode real"},
		{"EnrolBulkNoServer", enrol("--fleet", fleet, "-n", "5", "--mode", "bulk", "--data-dir", emptyDir), "--data-dir: " + emptyDir + " holds no Rollcall CA"},
		{"EnrolStray", enrol("--fleet", fleet, "-n", "5", "--token", token, "extra"), `unexpected argument "extra"`},
		{"RunNoFleet", []string{"loadgen", "run", "--scenario", "heartbeat"}, "--fleet: give the fleet file"},
		{"RunNoScenario", []string{"loadgen", "run", "--fleet", existing}, `--scenario: scenario ""`},
		{"RunBadScenario", runArgs("--scenario", "flood"), `--scenario: scenario "flood": give heartbeat, report, events or storm`},
		{"RunZeroRate", runArgs("--rate", "0"), `--rate "0"`},
		{"RunBadRate", runArgs("--rate", "fast"), `--rate "fast"`},
		{"RunBadConns", runArgs("--conns", "some"), `--conns "some"`},
		{"RunZeroConns", runArgs("--conns", "0"), `--conns "0"`},
		{"RunLongDuration", runArgs("--duration", "48h"), "--duration 48h0m0s"},
		{"RunNegativeCount", runArgs("--count", "-1"), "--count -1"},
		{"RunBadResend", []string{"loadgen", "run", "--fleet", existing, "--scenario", "events", "--resend", "1.5"}, "--resend 1.5"},
		{"RunBadPerCall", []string{"loadgen", "run", "--fleet", existing, "--scenario", "events", "--events-per-call", "501"}, "--events-per-call 501"},
		{"RunEventIDsNotEvents", runArgs("--event-ids", filepath.Join(dir, "ids")), "--event-ids is for --scenario events"},
		{"RunResendNotEvents", runArgs("--resend", "0.5"), "--resend and --events-per-call are for --scenario events"},
		{"RunBadTimeout", runArgs("--timeout", "0s"), "--timeout 0s"},
		{"RunRemote", runArgs("--addr", "192.0.2.1:8443"), "--addr: address 192.0.2.1:8443 is not on this machine"},
		{"RunRemoteName", runArgs("--addr", "rollcall.example.org:8443"), "--allow-remote"},
		{"RunAddrNoPort", runArgs("--addr", "127.0.0.1"), `--addr: address "127.0.0.1": give host:port`},
		{"RunMissingFleet", []string{"loadgen", "run", "--fleet", filepath.Join(dir, "none.json"), "--scenario", "heartbeat"}, "--fleet: load fleet"},
		{"RunNotAFleet", runArgs(), "--fleet: " + existing + " is not a fleet file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cli(t, env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if _, err := os.Stat(fleet); err == nil {
				t.Fatalf("a refused command wrote %s", fleet)
			}
			if left, _ := os.ReadDir(emptyDir); len(left) > 0 {
				t.Errorf("a refused command left %s in a directory that is not a server's", left[0].Name())
			}
		})
	}
	if _, err := cli(t, env, "loadgen"); !errors.Is(err.(*cliError).err, flag.ErrHelp) {
		t.Errorf("loadgen alone: %v, want the usage", err)
	}
	if out, err := cli(t, env, "loadgen", "help"); err != nil || !strings.Contains(out, "rollcall loadgen run") {
		t.Errorf("loadgen help: %v\n%s", err, out)
	}
}
