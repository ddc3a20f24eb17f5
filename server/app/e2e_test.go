package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/agent/outbox"
	"github.com/rollcall/rollcall/inventory"
	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/notify/mailtest"
	"github.com/rollcall/rollcall/server/pki"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backends runs fn against a server on each store.
func backends(t *testing.T, fn func(t *testing.T, h *harness)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, start(t, ""))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, start(t, pgtest.DSN(t)))
	})
}

// harness is a running server with a technician and an API token.
type harness struct {
	t        *testing.T
	dataDir  string
	db       string
	app      *app.App
	stop     context.CancelFunc
	done     chan error
	apiToken string
	logs     *syncBuffer // everything the server logged
	// mail is the SMTP server the app sends its emails to.
	mail *mailtest.Server
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, db string) *harness {
	t.Helper()
	h := &harness{t: t, dataDir: t.TempDir(), db: db, logs: &syncBuffer{}, mail: mailtest.Start(t)}
	h.startApp("127.0.0.1:0")
	_, _, err := admin.AddUser(context.Background(), h.app.Store, "tech@school.example", "Tess Tech", "technician", "")
	if err != nil {
		t.Fatal(err)
	}
	if h.apiToken, err = admin.CreateAPIToken(context.Background(), h.app.Store, "tech@school.example"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stopApp)
	return h
}

func (h *harness) startApp(agentAddr string) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mc := h.mail.Config()
	a, err := app.Start(ctx, app.Options{
		DataDir: h.dataDir,
		Config: app.Config{DB: h.db, AgentAddr: agentAddr, HTTPAddr: "127.0.0.1:0",
			SMTP: app.SMTPConfig{Host: mc.Host, Port: mc.Port, From: mc.From, Security: mc.Security}},
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	h.app, h.stop, h.done = a, cancel, make(chan error, 1)
	go func() { h.done <- a.Wait(ctx) }()
}

func (h *harness) stopApp() {
	if h.stop == nil {
		return
	}
	h.stop()
	if err := <-h.done; err != nil {
		h.t.Error(err)
	}
	h.stop = nil
}

func (h *harness) token(t *testing.T, uses int, ttl time.Duration) string {
	t.Helper()
	tok, err := admin.CreateEnrollToken(context.Background(), h.app.Store, h.app.CA, admin.EnrollTokenRequest{
		Uses: uses, TTL: ttl, Advertise: h.app.AgentAddr.String(), Now: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get calls the REST API and decodes the JSON answer into v.
func (h *harness) get(t *testing.T, path, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.app.HTTPAddr.String()+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

type deviceList struct {
	Items []struct {
		ID, SchoolID, Hostname, Make, Model, Serial, OSName, OSVersion string
	} `json:"items"`
	Next string `json:"next"`
}

func (d *deviceList) UnmarshalJSON(b []byte) error {
	var raw struct {
		Items []map[string]any `json:"items"`
		Next  string           `json:"next"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	d.Next = raw.Next
	for _, it := range raw.Items {
		s := func(k string) string { v, _ := it[k].(string); return v }
		d.Items = append(d.Items, struct {
			ID, SchoolID, Hostname, Make, Model, Serial, OSName, OSVersion string
		}{s("id"), s("school_id"), s("hostname"), s("make"), s("model"), s("serial"), s("os_name"), s("os_version")})
	}
	return nil
}

func report(serial, hostname string) (*agentv1.Report, string) {
	r := &agentv1.Report{
		Hardware: &agentv1.Hardware{
			Make: "Dell Inc.", Model: "Latitude 5440", Serial: serial, Hostname: hostname,
			OsName: "Microsoft Windows 11 Pro", OsVersion: "10.0.22631", CpuCores: 8, MemoryBytes: 16 << 30,
			MacAddresses: []string{"00:11:22:33:44:55"},
		},
		Posture: &agentv1.Posture{Usb: &agentv1.Usb{UnknownReason: "timed out"}},
	}
	return r, collect.Hash(r)
}

func enroll(t *testing.T, tok, serial string) *client.Identity {
	t.Helper()
	rep, hash := report(serial, "LAPTOP-"+serial)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := client.Enroll(ctx, t.TempDir(), tok, rep, hash)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func agentClient(t *testing.T, id *client.Identity) agentv1.AgentServiceClient {
	t.Helper()
	conn, err := id.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return agentv1.NewAgentServiceClient(conn)
}

// rawClient dials the agent API presenting cert (or none), trusting the CA.
func rawClient(t *testing.T, h *harness, cert *tls.Certificate) agentv1.AgentServiceClient {
	t.Helper()
	cfg := &tls.Config{RootCAs: h.app.CA.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(h.app.AgentAddr.String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return agentv1.NewAgentServiceClient(conn)
}

func wantStatus(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	st, _ := status.FromError(err)
	if err == nil || st.Code() != code || !strings.Contains(st.Message(), substr) {
		t.Fatalf("err = %v, want %s containing %q", err, code, substr)
	}
}

func countDevices(t *testing.T, s inventory.Store) int {
	t.Helper()
	d, err := s.FindDevices(context.Background(), inventory.DeviceFilter{Limit: inventory.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// TestEnrolCheckInREST is the core path: enrol over real mutual TLS, check
// in, send events, and see the device through the REST API.
func TestEnrolCheckInREST(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		id := enroll(t, h.token(t, 5, time.Hour), "SN-CORE-1")
		c := agentClient(t, id)
		ctx := context.Background()

		var list deviceList
		if code := h.get(t, "/api/v1/devices", h.apiToken, &list); code != 200 {
			t.Fatalf("GET /api/v1/devices = %d", code)
		}
		if len(list.Items) != 1 {
			t.Fatalf("got %d devices, want 1", len(list.Items))
		}
		got := list.Items[0]
		if got.Serial != "SN-CORE-1" || got.Make != "Dell Inc." || got.Model != "Latitude 5440" ||
			got.Hostname != "LAPTOP-SN-CORE-1" || got.OSName != "Microsoft Windows 11 Pro" || got.ID != id.State.DeviceID {
			t.Errorf("device = %+v", got)
		}

		// A heartbeat with the enrolled report's hash needs no report.
		_, hash := report("SN-CORE-1", "LAPTOP-SN-CORE-1")
		resp, err := c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetReportRequired() {
			t.Error("heartbeat with the known hash asked for a report")
		}
		// A changed report: the heartbeat asks for it, then it is stored.
		rep2, hash2 := report("SN-CORE-1", "LAPTOP-RENAMED")
		if resp, err = c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash2}); err != nil || !resp.GetReportRequired() {
			t.Fatalf("heartbeat with a new hash: resp=%v err=%v, want report_required", resp, err)
		}
		if _, err = c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash2, Report: rep2}); err != nil {
			t.Fatal(err)
		}
		var dev map[string]any
		if code := h.get(t, "/api/v1/devices/"+id.State.DeviceID, h.apiToken, &dev); code != 200 || dev["hostname"] != "LAPTOP-RENAMED" {
			t.Errorf("GET device = %d %v, want hostname LAPTOP-RENAMED", code, dev["hostname"])
		}

		// Events are stored once, however often they are sent.
		ev := &agentv1.Event{Id: uuid.NewString(), Type: "usb.inserted", OccurredAt: timestamppb.Now()}
		for range 3 {
			r, err := c.SendEvents(ctx, &agentv1.SendEventsRequest{Events: []*agentv1.Event{ev, ev}})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.GetAcknowledgedIds()) != 2 {
				t.Errorf("acknowledged %v", r.GetAcknowledgedIds())
			}
		}
		devID, _ := uuid.Parse(id.State.DeviceID)
		stored, err := h.app.Store.FindEvents(ctx, inventory.EventFilter{DeviceID: devID})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 {
			t.Errorf("stored %d events, want 1", len(stored))
		}

		// Renewal gives a new certificate that works. The old one works
		// until the new one is first used, then never again.
		before, oldCert := id.NotAfter(), id.Cert
		if err := id.Renew(ctx, c); err != nil {
			t.Fatal(err)
		}
		if id.Cert.Leaf.SerialNumber.Cmp(mustLeaf(t, id).SerialNumber) != 0 || id.NotAfter().Before(before) {
			t.Error("renewed certificate was not saved")
		}
		old := rawClient(t, h, &oldCert)
		if _, err := old.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash2}); err != nil {
			t.Errorf("check-in with the old certificate before the new one is used: %v", err)
		}
		if _, err := agentClient(t, id).CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash2}); err != nil {
			t.Errorf("check-in with renewed certificate: %v", err)
		}
		_, err = old.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: hash2})
		wantStatus(t, err, codes.Unauthenticated, "revoked")
	})
}

func mustLeaf(t *testing.T, id *client.Identity) *x509.Certificate {
	t.Helper()
	again, err := client.LoadIdentity(id.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return again.Cert.Leaf
}

// TestEnrolRefused checks that bad tokens are refused with a message that
// says why, and store nothing.
func TestEnrolRefused(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		single := h.token(t, 1, time.Hour)
		enroll(t, single, "SN-ONCE")

		revoked := h.token(t, 1, time.Hour)
		tid, _ := client.ParseToken(revoked)
		if err := h.app.Store.RevokeEnrollToken(ctx, uuid.MustParse(tid.GetTokenId()), time.Now()); err != nil {
			t.Fatal(err)
		}
		expired := h.token(t, 1, time.Nanosecond)
		forged, _ := client.ParseToken(h.token(t, 1, time.Hour))
		forged.Secret = []byte("not the secret")
		unknown, _ := client.ParseToken(h.token(t, 1, time.Hour))
		unknown.TokenId = uuid.NewString()
		wrongPin, _ := client.ParseToken(h.token(t, 1, time.Hour))
		wrongPin.CaPin = make([]byte, 32)

		tests := []struct {
			name, token, want string
		}{
			{"UsedUp", single, "used 1 of 1"},
			{"Revoked", revoked, "revoked"},
			{"Expired", expired, "expired"},
			{"Forged", encode(t, forged), "not valid"},
			{"Unknown", encode(t, unknown), "not known"},
			{"WrongPin", encode(t, wrongPin), "pin"},
			{"Garbage", "rc1_!!!", "damaged"},
			{"NoPrefix", "hello", "must start with"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rep, hash := report("SN-"+tc.name, "host")
				_, err := client.Enroll(ctx, t.TempDir(), tc.token, rep, hash)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to say %q", err, tc.want)
				}
			})
		}
		if n := countDevices(t, h.app.Store); n != 1 {
			t.Errorf("%d devices stored, want only the first", n)
		}
	})
}

func encode(t *testing.T, tok *agentv1.EnrollmentToken) string {
	t.Helper()
	s, err := client.EncodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCertificatesRefused checks the authentication interceptor.
func TestCertificatesRefused(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 2, time.Hour), "SN-CERT")
		_, hash := report("SN-CERT", "LAPTOP-SN-CERT")
		req := &agentv1.CheckInRequest{ReportHash: hash}

		otherCA, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		foreign := issue(t, otherCA, id.Cert.Leaf.Subject.CommonName, time.Now())
		expired := issue(t, h.app.CA, id.Cert.Leaf.Subject.CommonName, time.Now().Add(-pki.ClientValidity-time.Hour))
		unknown := issue(t, h.app.CA, uuid.NewString(), time.Now())

		tests := []struct {
			name string
			cert *tls.Certificate
			want string
		}{
			{"None", nil, "client certificate is required"},
			{"OtherCA", foreign, "not issued by this server's CA"},
			{"Expired", expired, "expired"},
			{"UnknownEnrolment", unknown, "not known"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := rawClient(t, h, tc.cert).CheckIn(ctx, req)
				wantStatus(t, err, codes.Unauthenticated, tc.want)
			})
		}
		t.Run("Revoked", func(t *testing.T) {
			eid := uuid.MustParse(id.Cert.Leaf.Subject.CommonName)
			if err := h.app.Store.RevokeEnrollment(ctx, eid, time.Now()); err != nil {
				t.Fatal(err)
			}
			_, err := agentClient(t, id).CheckIn(ctx, req)
			wantStatus(t, err, codes.Unauthenticated, "revoked")
		})
	})
}

// issue makes a client certificate for enrolment cn, valid from at.
func issue(t *testing.T, ca *pki.CA, cn string, at time.Time) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueClient(csr, cn, at)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// TestMalformedReports checks that bad reports are refused with
// InvalidArgument naming the field, and change nothing.
func TestMalformedReports(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-BAD")
		c := agentClient(t, id)
		devID := uuid.MustParse(id.State.DeviceID)
		before, err := h.app.Store.FindDeviceByID(ctx, devID)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			mutate func(r *agentv1.Report)
			want   string
		}{
			{"InvalidUTF8", func(r *agentv1.Report) { r.Hardware.Hostname = "bad\xff\xfe" }, "hardware.hostname: not valid UTF-8"},
			{"Oversized", func(r *agentv1.Report) { r.Hardware.Model = strings.Repeat("x", 5000) }, "hardware.model"},
			{"AbsurdMemory", func(r *agentv1.Report) { r.Hardware.MemoryBytes = 1 << 62 }, "hardware.memory_bytes"},
			{"NegativeCores", func(r *agentv1.Report) { r.Hardware.CpuCores = -3 }, "hardware.cpu_cores"},
			{"TooManyDisks", func(r *agentv1.Report) {
				for range inventory.MaxItems + 1 {
					r.Hardware.Disks = append(r.Hardware.Disks, &agentv1.Disk{Name: "sda"})
				}
			}, "hardware.disks"},
			{"BadPercent", func(r *agentv1.Report) {
				r.Posture.Encryption = &agentv1.Encryption{Volumes: []*agentv1.Volume{{Name: "C:", EncryptionPercent: 250}}}
			}, "posture.encryption.volumes[0].encryption_percent"},
			{"BadTimestamp", func(r *agentv1.Report) {
				r.Hardware.OsInstallDate = &timestamppb.Timestamp{Seconds: 1 << 60}
			}, "hardware.os_install_date"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rep, _ := report("SN-BAD", "CHANGED")
				tc.mutate(rep)
				_, err := c.CheckIn(ctx, &agentv1.CheckInRequest{Report: rep, ReportHash: collect.Hash(rep)})
				wantStatus(t, err, codes.InvalidArgument, tc.want)
			})
		}
		t.Run("BadHash", func(t *testing.T) {
			_, err := c.CheckIn(ctx, &agentv1.CheckInRequest{ReportHash: "zz"})
			wantStatus(t, err, codes.InvalidArgument, "report_hash")
		})
		t.Run("BadEvent", func(t *testing.T) {
			good := uuid.NewString()
			resp, err := c.SendEvents(ctx, &agentv1.SendEventsRequest{Events: []*agentv1.Event{
				{Id: good, Type: "ok", OccurredAt: timestamppb.Now()},
				{Id: "not-a-uuid", Type: "usb.inserted", OccurredAt: timestamppb.Now()},
				{Id: uuid.NewString(), Type: "no.time"},
			}})
			if err != nil {
				t.Fatalf("SendEvents with bad events among good: %v", err)
			}
			if got := resp.GetAcknowledgedIds(); len(got) != 1 || got[0] != good || resp.GetStored() != 1 {
				t.Errorf("acknowledged %v (stored %d), want only %s", got, resp.GetStored(), good)
			}
			rej := resp.GetRejected()
			if len(rej) != 2 || rej[0].GetId() != "not-a-uuid" || !strings.Contains(rej[0].GetReason(), "event.id") ||
				!strings.Contains(rej[1].GetReason(), "event.occurred_at") {
				t.Errorf("rejected = %v, want not-a-uuid (event.id) and the event without a time (event.occurred_at)", rej)
			}
			stored, _ := h.app.Store.FindEvents(ctx, inventory.EventFilter{DeviceID: devID})
			if len(stored) != 1 || stored[0].ID.String() != good {
				t.Errorf("stored %d events, want only the good one", len(stored))
			}
		})
		t.Run("TooManyEvents", func(t *testing.T) {
			events := make([]*agentv1.Event, inventory.MaxEventsPerCall+1)
			for i := range events {
				events[i] = &agentv1.Event{Id: uuid.NewString(), Type: "ok", OccurredAt: timestamppb.Now()}
			}
			_, err := c.SendEvents(ctx, &agentv1.SendEventsRequest{Events: events})
			wantStatus(t, err, codes.InvalidArgument, "events:")
		})
		after, err := h.app.Store.FindDeviceByID(ctx, devID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Hostname != before.Hostname || after.ReportHash != before.ReportHash {
			t.Errorf("device changed by refused reports: %q -> %q", before.Hostname, after.Hostname)
		}
	})
}

// TestOfflineOutbox checks that with the server down the agent keeps its
// report and events, and delivers them once when the server is back.
func TestOfflineOutbox(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-OFF")
		ob, err := outbox.Open(filepath.Join(id.Dir, "outbox.db"), outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		hostname := "OFFLINE-1"
		r := &client.Runner{Identity: id, Outbox: ob, Collect: func(context.Context) (*agentv1.Report, string) {
			return report("SN-OFF", hostname)
		}}
		addr := h.app.AgentAddr.String()
		h.stopApp()

		for i := range 3 {
			if err := r.Event("usb.inserted", map[string]any{"n": i}); err != nil {
				t.Fatal(err)
			}
		}
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = r.Once(tctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Fatalf("Once with the server down: %v", err)
		}
		if n, _ := ob.EventCount(); n != 3 {
			t.Fatalf("%d events queued, want 3", n)
		}
		if _, _, _, ok, _ := ob.PendingReport(); !ok {
			t.Fatal("changed report not queued")
		}

		h.startApp(addr)
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Once(ctx); err != nil { // a second run sends nothing twice
			t.Fatal(err)
		}
		if n, _ := ob.EventCount(); n != 0 {
			t.Errorf("%d events still queued after delivery", n)
		}
		devID := uuid.MustParse(id.State.DeviceID)
		stored, err := h.app.Store.FindEvents(ctx, inventory.EventFilter{DeviceID: devID})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 3 {
			t.Errorf("%d events stored, want 3", len(stored))
		}
		d, err := h.app.Store.FindDeviceByID(ctx, devID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Hostname != hostname {
			t.Errorf("hostname = %q, want the queued report's %q", d.Hostname, hostname)
		}
	})
}

// TestRefusedEventsAndDrops checks that an event the server refuses is
// dropped without holding back the events behind it or the check-in, and
// that events the outbox dropped at its bound are reported once.
func TestRefusedEventsAndDrops(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-REF")
		ob, err := outbox.Open(filepath.Join(id.Dir, "outbox.db"), outbox.Options{MaxEvents: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		r := &client.Runner{Identity: id, Outbox: ob, Collect: func(context.Context) (*agentv1.Report, string) {
			return report("SN-REF", "REFUSED-1")
		}}
		// Four events into room for three: the first is dropped. The
		// second has a type the server refuses.
		for i, typ := range []string{"usb.inserted", strings.Repeat("x", inventory.MaxEventTypeLen+1), "usb.removed", "usb.inserted"} {
			if err := ob.AddEvent(&agentv1.Event{Id: uuid.NewString(), Type: typ, OccurredAt: timestamppb.Now()}); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		if err := r.Once(ctx); err != nil {
			t.Fatalf("Once with a refused event queued: %v", err)
		}
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := ob.EventCount(); n != 0 {
			t.Errorf("%d events still queued; the refused one should be dropped", n)
		}
		devID := uuid.MustParse(id.State.DeviceID)
		stored, err := h.app.Store.FindEvents(ctx, inventory.EventFilter{DeviceID: devID})
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]int{}
		var drop *inventory.Event
		for _, e := range stored {
			types[e.Type]++
			if e.Type == "agent.events_dropped" {
				drop = e
			}
		}
		want := map[string]int{"usb.removed": 1, "usb.inserted": 1, "agent.events_dropped": 1}
		if !maps.Equal(types, want) {
			t.Errorf("stored event types %v, want %v", types, want)
		}
		if drop != nil {
			var p struct{ Count, Total int }
			if err := json.Unmarshal(drop.Payload, &p); err != nil || p.Count != 1 || p.Total != 1 {
				t.Errorf("agent.events_dropped payload = %s (%v), want count 1, total 1", drop.Payload, err)
			}
		}
		d, err := h.app.Store.FindDeviceByID(ctx, devID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Hostname != "REFUSED-1" {
			t.Errorf("hostname = %q: the report was held back by the refused event", d.Hostname)
		}
	})
}

// TestRESTAccess checks API authentication and that people see only their
// schools' devices.
func TestRESTAccess(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-REST")
		other := &inventory.School{Slug: "other-school", Name: "Other School"}
		if err := h.app.Store.CreateSchool(ctx, other); err != nil {
			t.Fatal(err)
		}
		if _, _, err := admin.AddUser(ctx, h.app.Store, "b@other.example", "Bea", "technician", "other-school"); err != nil {
			t.Fatal(err)
		}
		otherToken, err := admin.CreateAPIToken(ctx, h.app.Store, "b@other.example")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := admin.AddUser(ctx, h.app.Store, "boss@trust.example", "Olu", "org_admin", ""); err != nil {
			t.Fatal(err)
		}
		adminToken, err := admin.CreateAPIToken(ctx, h.app.Store, "boss@trust.example")
		if err != nil {
			t.Fatal(err)
		}
		devPath := "/api/v1/devices/" + id.State.DeviceID
		tests := []struct {
			name, path, token string
			wantCode, wantN   int
		}{
			{"NoToken", "/api/v1/devices", "", 401, -1},
			{"BadToken", "/api/v1/devices", "rcapi_nope", 401, -1},
			{"OwnSchool", "/api/v1/devices", h.apiToken, 200, 1},
			{"OtherSchoolList", "/api/v1/devices", otherToken, 200, 0},
			{"OtherSchoolDevice", devPath, otherToken, 404, -1},
			{"OrgAdmin", "/api/v1/devices", adminToken, 200, 1},
			{"BadCursor", "/api/v1/devices?after=zzz", h.apiToken, 400, -1},
			{"BadLimit", "/api/v1/devices?limit=0", h.apiToken, 400, -1},
			{"NoSuchDevice", "/api/v1/devices/" + uuid.NewString(), h.apiToken, 404, -1},
			{"Healthz", "/healthz", "", 200, -1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var list deviceList
				var v any = &list
				if tc.wantN < 0 {
					v = &map[string]any{}
				}
				if code := h.get(t, tc.path, tc.token, v); code != tc.wantCode {
					t.Fatalf("GET %s = %d, want %d", tc.path, code, tc.wantCode)
				}
				if tc.wantN >= 0 && len(list.Items) != tc.wantN {
					t.Errorf("%d devices, want %d", len(list.Items), tc.wantN)
				}
			})
		}
	})
}

// TestPagination walks the device list by its "next" cursor.
func TestPagination(t *testing.T) {
	h := start(t, "")
	tok := h.token(t, 5, time.Hour)
	for i := range 5 {
		enroll(t, tok, fmt.Sprintf("SN-PAGE-%d", i))
	}
	seen := map[string]bool{}
	path := "/api/v1/devices?limit=2"
	for pages := 0; ; pages++ {
		var list deviceList
		if code := h.get(t, path, h.apiToken, &list); code != 200 {
			t.Fatalf("GET %s = %d", path, code)
		}
		for _, d := range list.Items {
			if seen[d.ID] {
				t.Fatalf("device %s on two pages", d.ID)
			}
			seen[d.ID] = true
		}
		if list.Next == "" || pages > 5 {
			break
		}
		path = "/api/v1/devices?limit=2&after=" + list.Next
	}
	if len(seen) != 5 {
		t.Errorf("saw %d devices over all pages, want 5", len(seen))
	}
}
