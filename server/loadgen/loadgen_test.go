package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/vault"
)

func TestMain(m *testing.M) {
	if runHelper() {
		return
	}
	pgtest.Main(m)
}

// server is a real Rollcall server on 127.0.0.1.
type server struct {
	*app.App
	dataDir string
}

// startServer starts a server on SQLite, or on PostgreSQL at dsn.
func startServer(t *testing.T, dsn string) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Start(ctx, app.Options{DataDir: dir, Config: app.Config{DB: dsn, AgentAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Wait(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &server{App: a, dataDir: dir}
}

func (s *server) token(t *testing.T, uses int) string {
	t.Helper()
	tok, err := admin.CreateEnrollToken(context.Background(), s.Store, s.CA, admin.EnrollTokenRequest{
		Uses: uses, TTL: time.Hour, Advertise: s.AgentAddr.String(), Now: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// enroll enrols n agents for real and checks that every one did.
func (s *server) enroll(t *testing.T, n int) *Fleet {
	t.Helper()
	f, res, err := Enroll(context.Background(), EnrollOptions{Token: s.token(t, n), N: n, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != int64(n) || res.Failed != 0 || len(f.Agents) != n {
		t.Fatalf("enrolled %d of %d (%d agents), errors %v", res.OK, n, len(f.Agents), res.Errors)
	}
	if res.Handshakes != int64(n) {
		t.Errorf("%d handshakes for %d enrolments, want one each", res.Handshakes, n)
	}
	return f
}

func (s *server) countDevices(t *testing.T) inventory.DeviceCounts {
	t.Helper()
	c, err := s.Store.CountDevices(context.Background(), inventory.DeviceFilter{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRun fails unless every request of res succeeded and its figures
// hang together, and the JSON form parses.
func checkRun(t *testing.T, res *Result, wantSent int64) {
	t.Helper()
	if res.Failed != 0 || res.OK != res.Sent || len(res.Errors) != 0 {
		t.Errorf("%d of %d failed: %v", res.Failed, res.Sent, res.Errors)
	}
	if wantSent > 0 && res.Sent != wantSent {
		t.Errorf("sent %d, want %d", res.Sent, wantSent)
	}
	l := res.Latency
	if l.Count != int(res.OK) || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P95 || l.P95 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v: want %d of them, non-zero and ordered", l, res.OK)
	}
	if res.Throughput <= 0 {
		t.Errorf("throughput %g", res.Throughput)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scenario string  `json:"scenario"`
		OK       int64   `json:"ok"`
		Elapsed  float64 `json:"elapsed_s"`
		Latency  struct {
			P50 float64 `json:"p50_ms"`
			Max float64 `json:"max_ms"`
		} `json:"latency"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, b)
	}
	if got.OK != res.OK || got.Elapsed <= 0 || got.Latency.P50 <= 0 || got.Latency.P50 > got.Latency.Max {
		t.Errorf("JSON output = %s", b)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text, 3); err != nil || !strings.Contains(text.String(), "p95") {
		t.Errorf("text output: %v\n%s", err, text.String())
	}
}

// checkEventsStored fails unless every event sent and acknowledged is
// stored exactly once and nothing else is stored for the fleet.
func checkEventsStored(t *testing.T, s *server, f *Fleet, res *Result) {
	t.Helper()
	sent := map[string]bool{}
	for _, e := range res.EventIDs {
		if sent[e.ID] {
			t.Fatalf("event %s sent as two events", e.ID)
		}
		sent[e.ID] = true
		if !e.Acknowledged {
			t.Errorf("event %s not acknowledged", e.ID)
		}
	}
	if int64(len(sent)) != res.Events.Sent || res.Events.Acknowledged != res.Events.Sent || res.Events.Stored != res.Events.Sent {
		t.Errorf("events %+v for %d IDs: want each sent, acknowledged and stored new once", *res.Events, len(sent))
	}
	stored := map[string]int{}
	for _, a := range f.Agents {
		evs, err := s.Store.FindEvents(context.Background(), inventory.EventFilter{DeviceID: a.DeviceID, Limit: inventory.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == inventory.MaxPageSize {
			t.Fatalf("device %s has a full page of events: the test cannot count them all", a.DeviceID)
		}
		for _, e := range evs {
			stored[e.ID.String()]++
		}
	}
	for id := range sent {
		if stored[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, stored[id])
		}
	}
	if len(stored) != len(sent) {
		t.Errorf("%d events stored for the fleet, %d sent", len(stored), len(sent))
	}
}

// TestScenario_RealFleet enrols 20 agents through the Enroll call, saves
// and loads the fleet, and runs every scenario against a real server.
func TestScenario_RealFleet(t *testing.T) {
	s := startServer(t, "")
	enrolled := s.enroll(t, 20)
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := enrolled.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("fleet file: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
	f, err := LoadFleet(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Agents) != 20 || f.Mode != ModeReal || f.Server != s.AgentAddr.String() || !f.CA.Equal(s.CA.Cert) {
		t.Fatalf("loaded fleet: %d agents, mode %q, server %q", len(f.Agents), f.Mode, f.Server)
	}
	for i, a := range f.Agents {
		if a.DeviceID != enrolled.Agents[i].DeviceID || a.hash != enrolled.Agents[i].hash {
			t.Fatalf("agent %d loaded as %s, saved as %s", i, a.DeviceID, enrolled.Agents[i].DeviceID)
		}
	}
	c := s.countDevices(t)
	if c.Total != 20 {
		t.Fatalf("%d devices stored, want 20", c.Total)
	}
	// Verdicts vary as in a school: BitLocker off on 7 of the 20, old
	// definitions on 4.
	if c.Failing[inventory.RuleEncryption] != 7 || c.Failing[inventory.RuleAntivirus] != 4 || c.Compliant != 11 {
		t.Errorf("compliant %d, failing %v; want 11 compliant, 7 failing encryption, 4 antivirus", c.Compliant, c.Failing)
	}

	ctx := context.Background()
	t.Run("Heartbeat", func(t *testing.T) {
		res, err := Run(ctx, f, Options{Scenario: Heartbeat, Rate: 50, Duration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		checkRun(t, res, 50)
		if res.ReportsRequired != 0 || res.Handshakes != 20 {
			t.Errorf("%d reports required, %d handshakes; want 0 and one per agent", res.ReportsRequired, res.Handshakes)
		}
	})
	t.Run("Report", func(t *testing.T) {
		before, err := s.Store.FindPostureSnapshots(ctx, f.Agents[0].DeviceID, 10)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, f, Options{Scenario: Report, Rate: 40, Count: 40})
		if err != nil {
			t.Fatal(err)
		}
		checkRun(t, res, 40)
		after, err := s.Store.FindPostureSnapshots(ctx, f.Agents[0].DeviceID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before)+2 {
			t.Errorf("agent 0 has %d posture snapshots after two reports, had %d", len(after), len(before))
		}
		if !f.Changed() {
			t.Error("the fleet's reports changed but Changed says not")
		}
		// The server now holds the new reports: heartbeats need none.
		res, err = Run(ctx, f, Options{Scenario: Heartbeat, Count: 20, Workers: 4, Conns: ConnsPerRequest})
		if err != nil {
			t.Fatal(err)
		}
		checkRun(t, res, 20)
		if res.ReportsRequired != 0 || res.Handshakes != 20 {
			t.Errorf("%d reports required, %d handshakes; want 0 and one per request", res.ReportsRequired, res.Handshakes)
		}
	})
	t.Run("Events", func(t *testing.T) {
		res, err := Run(ctx, f, Options{Scenario: Events, Rate: 40, Duration: 1500 * time.Millisecond, EventsPerCall: 4, Resend: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		if res.Events.Resent == 0 || res.Sent != 60+res.Events.Resent {
			t.Errorf("sent %d with %d resent, want 60 batches and each resend counted", res.Sent, res.Events.Resent)
		}
		checkRun(t, res, 0)
		checkEventsStored(t, s, f, res)
	})
	t.Run("Storm", func(t *testing.T) {
		res, err := Run(ctx, f, Options{Scenario: Storm, Workers: 8})
		if err != nil {
			t.Fatal(err)
		}
		checkRun(t, res, 20)
	})
	if c := s.countDevices(t); c.Total != 20 {
		t.Errorf("%d devices after the runs, want 20", c.Total)
	}
}

// TestScenario_EventsPostgres sends events, a fifth of them twice at
// once, to a server on PostgreSQL, and finds each stored once.
func TestScenario_EventsPostgres(t *testing.T) {
	s := startServer(t, pgtest.DSN(t))
	f := s.enroll(t, 10)
	res, err := Run(context.Background(), f, Options{Scenario: Events, Rate: 100, Duration: time.Second, EventsPerCall: 10, Resend: 0.2, Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, res, 0)
	checkEventsStored(t, s, f, res)
	res, err = Run(context.Background(), f, Options{Scenario: Storm, Workers: 10})
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, res, 10)
}

// TestFleet_BulkEnroll stores 200 agents through the bulk path into a
// running server's store, then checks in with them over mutual TLS.
func TestFleet_BulkEnroll(t *testing.T) {
	s := startServer(t, "")
	v, err := vault.LoadOrCreate(s.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, res, err := BulkEnroll(ctx, BulkOptions{Store: s.Store, CA: s.CA, Vault: v, N: 200, Server: s.AgentAddr.String()})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 200 || res.Failed != 0 || len(f.Agents) != 200 || f.Mode != ModeBulk {
		t.Fatalf("bulk-enrolled %d (%d agents), errors %v", res.OK, len(f.Agents), res.Errors)
	}
	if c := s.countDevices(t); c.Total != 200 || c.Failing[inventory.RuleEncryption] != 67 || c.Failing[inventory.RuleAntivirus] != 40 {
		t.Errorf("%d devices, failing %v; want 200, 67 without BitLocker, 40 with old definitions", c.Total, c.Failing)
	}
	tokens, err := s.Store.FindEnrollTokens(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if tok.RevokedAt.IsZero() {
			t.Errorf("bulk token %s left usable", tok.ID)
		}
	}

	run, err := Run(ctx, f, Options{Scenario: Heartbeat, Count: 200, Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, run, 200)
	if run.ReportsRequired != 0 {
		t.Errorf("%d heartbeats answered report_required: the bulk path stored another hash", run.ReportsRequired)
	}

	// A report sent over the API is stored as the bulk path stored it.
	p := newPool([]string{s.AgentAddr.String()}, f.CA, ConnsPerRequest)
	for _, a := range f.Agents[:3] {
		before, err := s.Store.FindLatestPosture(ctx, a.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := s.Store.FindDeviceByID(ctx, a.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		conn, release, err := p.get(a, a.Index, 0)
		if err != nil {
			t.Fatal(err)
		}
		rep, hash := f.Report(a)
		_, err = agentv1.NewAgentServiceClient(conn).CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash, Report: rep, CollectedAt: timestamppb.Now()})
		release()
		if err != nil {
			t.Fatal(err)
		}
		after, err := s.Store.FindLatestPosture(ctx, a.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if after.ID == before.ID {
			t.Fatal("no new posture snapshot")
		}
		redev, err := s.Store.FindDeviceByID(ctx, a.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := s.Store.FindRecoveryKeys(ctx, a.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[bitLockerOff(a.Index)]; len(keys) != want || (want == 1 && !keys[0].RetiredAt.IsZero()) {
			t.Errorf("agent %d: %d recovery keys escrowed, want %d, current", a.Index, len(keys), want)
		}
		if len(keys) == 1 {
			if pw, err := v.Open(keys[0].Sealed, vault.RecoveryKeyContext(keys[0].ProtectorID)); err != nil || string(pw) != rep.GetPosture().GetEncryption().GetRecoveryKeys()[0].GetNumericalPassword() {
				t.Errorf("agent %d: escrowed recovery key does not open to the reported one: %v", a.Index, err)
			}
		}
		for _, c := range []struct {
			what          string
			bulk, overAPI any
		}{
			{"posture", before.Posture, after.Posture},
			{"hardware", dev.Hardware, redev.Hardware},
			{"verdict status", dev.Verdict.Status, redev.Verdict.Status},
			{"verdict failing", dev.Verdict.Failing, redev.Verdict.Failing},
		} {
			b1, _ := json.Marshal(c.bulk)
			b2, _ := json.Marshal(c.overAPI)
			if !bytes.Equal(b1, b2) {
				t.Errorf("agent %d: %s stored by the bulk path\n%s\ndiffers from the API's\n%s", a.Index, c.what, b1, b2)
			}
		}
	}
}

// TestScenario_OtherCA: a certificate from another CA is refused, and the
// run says so; so is a server the fleet's CA did not sign.
func TestScenario_OtherCA(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	other, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged := &Fleet{Mode: ModeReal, Tag: "f0f0", Server: s.AgentAddr.String(), CA: s.CA.Cert}
	for i := range 3 {
		key, csr, err := newKey("forged")
		if err != nil {
			t.Fatal(err)
		}
		cert, err := other.IssueClient(csr, uuid.NewString(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		a := &Agent{Index: i, DeviceID: uuid.New(), hash: strings.Repeat("ab", 32)}
		if err := a.setCert(key, cert.Raw); err != nil {
			t.Fatal(err)
		}
		forged.Agents = append(forged.Agents, a)
	}
	res, err := Run(ctx, forged, Options{Scenario: Heartbeat, Count: 6, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Failed != 6 || len(res.Errors) != 1 || res.Errors[0].Code != "Unauthenticated" ||
		!strings.Contains(res.Errors[0].Message, "not issued by this server's CA") {
		t.Errorf("forged certificates: %d ok, %d failed, errors %v", res.OK, res.Failed, res.Errors)
	}
	var text bytes.Buffer
	res.WriteText(&text, 3)
	if !strings.Contains(text.String(), "6 x Unauthenticated") {
		t.Errorf("text output hides the failures:\n%s", text.String())
	}

	// The right certificates, but the fleet trusts another CA: the agents
	// refuse the server.
	f := s.enroll(t, 2)
	f.CA = other.Cert
	res, err = Run(ctx, f, Options{Scenario: Heartbeat, Count: 2, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Failed != 2 || res.HandshakesFailed == 0 || len(res.Errors) == 0 || res.Errors[0].Code != "Unavailable" {
		t.Errorf("untrusted server: %d ok, %d failed, %d handshakes failed, errors %v", res.OK, res.Failed, res.HandshakesFailed, res.Errors)
	}
}

// TestScenario_Conns counts the handshakes of each connection policy.
func TestScenario_Conns(t *testing.T) {
	s := startServer(t, "")
	f := s.enroll(t, 10)
	tests := []struct {
		name  string
		conns int
		want  int64
	}{
		{"PerAgent", ConnsPerAgent, 10},
		{"PerRequest", ConnsPerRequest, 30},
		{"BoundAboveFleet", 10, 10},
		// Agents in turn through 3 slots: every request finds its
		// connection closed.
		{"BoundBelowFleet", 3, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), f, Options{Scenario: Heartbeat, Count: 30, Workers: 1, Conns: tc.conns})
			if err != nil {
				t.Fatal(err)
			}
			checkRun(t, res, 30)
			if res.Handshakes != tc.want {
				t.Errorf("%d handshakes, want %d", res.Handshakes, tc.want)
			}
		})
	}
}

func TestScenario_Options(t *testing.T) {
	f := &Fleet{Server: "127.0.0.1:1", Agents: []*Agent{{}}}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"Unbounded", Options{Scenario: Heartbeat}, "give a duration or a count"},
		{"BadScenario", Options{Scenario: "ddos", Count: 1}, `scenario "ddos"`},
		{"NegativeRate", Options{Scenario: Heartbeat, Rate: -1, Count: 1}, "rate -1"},
		{"BadConns", Options{Scenario: Heartbeat, Count: 1, Conns: -2}, "conns -2"},
		{"TooManyEvents", Options{Scenario: Events, Count: 1, EventsPerCall: 501}, "events per call 501"},
		{"BadResend", Options{Scenario: Events, Count: 1, Resend: 2}, "resend 2"},
		{"Remote", Options{Scenario: Heartbeat, Count: 1, Addrs: []string{"192.0.2.1:7443"}}, "not on this machine"},
		{"RemoteName", Options{Scenario: Heartbeat, Count: 1, Addrs: []string{"rollcall.example.org:7443"}}, "--allow-remote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), f, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestScenario_CheckAddr(t *testing.T) {
	tests := []struct {
		addr        string
		allowRemote bool
		ok          bool
	}{
		{"127.0.0.1:7443", false, true},
		{"127.8.9.10:7443", false, true},
		{"[::1]:7443", false, true},
		{"localhost:7443", false, true},
		{"LocalHost:7443", false, true},
		{"10.0.0.5:7443", false, false},
		{"[2001:db8::1]:7443", false, false},
		{"rollcall.school.example:7443", false, false},
		{"localhost.evil.example:7443", false, false},
		{"0.0.0.0:7443", false, false},
		{"10.0.0.5:7443", true, true},
		{"127.0.0.1", false, false},
		{"", true, false},
	}
	for _, tc := range tests {
		err := CheckAddr(tc.addr, tc.allowRemote)
		if (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%q, %v) = %v, want ok=%v", tc.addr, tc.allowRemote, err, tc.ok)
		}
	}
}
