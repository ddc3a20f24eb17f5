package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/agent/outbox"
	"github.com/rollcall/rollcall/agent/posture/linux"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/vault"
)

// TestPostureAndCompliance checks that a reported posture is stored and
// judged: a device failing a rule is noncompliant with the rule named, and
// the school's summary counts it.
func TestPostureAndCompliance(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-POST")
		rep, _ := report("SN-POST", "LAPTOP-POST")
		rep.Posture = &agentv1.Posture{
			Antivirus: &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{{
				Name: "Windows Defender", Source: "defender", Enabled: true, SignatureUpdated: timestamppb.New(time.Now().Add(-time.Hour)),
			}}},
			Encryption: &agentv1.Encryption{Volumes: []*agentv1.Volume{{Name: "C:", OsVolume: true, State: "suspended", Protection: "off"}}},
			ScreenLock: &agentv1.ScreenLock{IdleLockSeconds: 300, PasswordOnWake: true},
			Usb:        &agentv1.Usb{},
		}
		if _, err := agentClient(t, id).CheckIn(ctx, &agentv1.CheckInRequest{Report: rep, ReportHash: collect.Hash(rep)}); err != nil {
			t.Fatal(err)
		}
		var dev struct {
			Posture    inventory.Posture    `json:"posture"`
			Compliance inventory.Compliance `json:"compliance"`
		}
		if code := h.get(t, "/api/v1/devices/"+id.State.DeviceID, h.apiToken, &dev); code != 200 {
			t.Fatalf("GET device = %d", code)
		}
		if dev.Posture.Encryption == nil || len(dev.Posture.Encryption.Volumes) != 1 || dev.Posture.Encryption.Volumes[0].State != "suspended" {
			t.Errorf("posture = %+v, want the reported encryption", dev.Posture)
		}
		var raw map[string]json.RawMessage
		h.get(t, "/api/v1/devices/"+id.State.DeviceID, h.apiToken, &raw)
		var compact bytes.Buffer
		json.Compact(&compact, raw["posture"])
		if !strings.Contains(compact.String(), `"usb":{"devices":[]}`) {
			t.Errorf("posture = %s; a USB list read and empty should say so with []", raw["posture"])
		}
		if dev.Compliance.Status != inventory.StatusNoncompliant {
			t.Errorf("compliance = %+v, want noncompliant", dev.Compliance)
		}
		failing := dev.Compliance.With(inventory.StatusNoncompliant)
		if len(failing) != 1 || failing[0].Rule != inventory.RuleEncryption || !strings.Contains(failing[0].Reason, "suspended") {
			t.Errorf("failing rules = %+v, want only encryption, saying suspended", failing)
		}

		var hist struct {
			Items []inventory.PostureChange
		}
		if code := h.get(t, "/api/v1/devices/"+id.State.DeviceID+"/posture-history", h.apiToken, &hist); code != 200 || len(hist.Items) == 0 {
			t.Fatalf("posture history = %d, %d changes", code, len(hist.Items))
		}
		if c := hist.Items[0]; c.Concern != "antivirus" || !strings.Contains(string(c.After), "Windows Defender") {
			t.Errorf("newest change = %s %s, want the antivirus first reported", c.Concern, c.After)
		}

		var sum struct {
			Items []struct {
				Devices, Compliant, Noncompliant, Unknown int
				Rules                                     []struct {
					Rule                             string
					Compliant, Noncompliant, Unknown int
				}
			}
		}
		if code := h.get(t, "/api/v1/compliance", h.apiToken, &sum); code != 200 || len(sum.Items) != 1 {
			t.Fatalf("GET /api/v1/compliance = %d, %d schools", code, len(sum.Items))
		}
		s := sum.Items[0]
		if s.Devices != 1 || s.Noncompliant != 1 {
			t.Errorf("summary = %+v, want 1 device, noncompliant", s)
		}
		for _, r := range s.Rules {
			if r.Rule == inventory.RuleEncryption && r.Noncompliant != 1 || r.Rule == inventory.RuleAntivirus && r.Compliant != 1 {
				t.Errorf("rule %s counts %+v", r.Rule, r)
			}
		}
	})
}

// uevents is a uevent source that returns one message per Read, then
// io.EOF.
type uevents [][]byte

func (m *uevents) Read(b []byte) (int, error) {
	if len(*m) == 0 {
		return 0, io.EOF
	}
	n := copy(b, (*m)[0])
	*m = (*m)[1:]
	return n, nil
}

// TestUSBEvents checks that a USB insertion fed into the agent's Linux
// event source, as the kernel would announce it, reaches the server at
// once and shows in the fleet's USB events, flagged for review.
func TestUSBEvents(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-USB")
		ob, err := outbox.Open(filepath.Join(id.Dir, "outbox.db"), outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		r := &client.Runner{Identity: id, Outbox: ob}

		const dev = "devices/pci0000:00/0000:00:14.0/usb1/1-1"
		sys := fstest.MapFS{
			dev + "/idVendor":                {Data: []byte("0781\n")},
			dev + "/idProduct":               {Data: []byte("5567\n")},
			dev + "/manufacturer":            {Data: []byte("SanDisk\n")},
			dev + "/product":                 {Data: []byte("Cruzer Blade\n")},
			dev + "/serial":                  {Data: []byte("4C53000123\n")},
			dev + "/bDeviceClass":            {Data: []byte("00\n")},
			dev + "/1-1:1.0/bInterfaceClass": {Data: []byte("08\n")},
		}
		src := &uevents{[]byte("add@/" + dev + "\x00ACTION=add\x00DEVPATH=/" + dev +
			"\x00SUBSYSTEM=usb\x00DEVTYPE=usb_device\x00PRODUCT=781/5567/100\x00SEQNUM=4721\x00")}
		err = linux.WatchUevents(ctx, src, sys, time.Millisecond, func(typ string, e *agentv1.UsbEvent) {
			e.User = "tess"
			if err := r.USBEvent(typ, e, time.Now()); err != nil {
				t.Error(err)
			}
			if err := r.SendEvents(ctx); err != nil {
				t.Error(err)
			}
		})
		if err != io.EOF {
			t.Fatalf("WatchUevents = %v", err)
		}
		var list struct {
			Items []struct {
				DeviceID    string             `json:"device_id"`
				Type        string             `json:"type"`
				Payload     inventory.USBEvent `json:"payload"`
				NeedsReview *bool              `json:"needs_review"`
			}
		}
		if code := h.get(t, "/api/v1/usb-events", h.apiToken, &list); code != 200 {
			t.Fatalf("GET /api/v1/usb-events = %d", code)
		}
		if len(list.Items) != 1 {
			t.Fatalf("%d USB events, want 1", len(list.Items))
		}
		e := list.Items[0]
		if e.DeviceID != id.State.DeviceID || e.Type != "usb.inserted" || e.Payload.Device.Serial != "4C53000123" ||
			!e.Payload.Device.MassStorage || e.Payload.User != "tess" || e.NeedsReview == nil || !*e.NeedsReview {
			t.Errorf("USB event = %+v", e)
		}
		var bad struct{ Error struct{ Message string } }
		if code := h.get(t, "/api/v1/usb-events?type=agent.started", h.apiToken, &bad); code != 400 || !strings.HasPrefix(bad.Error.Message, "type:") {
			t.Errorf("a non-USB type: %d %q, want 400 naming type", code, bad.Error.Message)
		}
		var devEvents struct{ Items []struct{ Type string } }
		if code := h.get(t, "/api/v1/devices/"+id.State.DeviceID+"/events?type=usb.", h.apiToken, &devEvents); code != 200 || len(devEvents.Items) != 1 {
			t.Errorf("device events = %d %+v, want the one USB event", code, devEvents)
		}
	})
}

// send calls the REST API with method and a JSON body, decoding the
// answer into v.
func (h *harness) send(t *testing.T, method, path, token, body string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.app.HTTPAddr.String()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// TestPolicyChange checks that a school's policy can be read and changed
// through the API, that bad changes are refused by name, and that a change
// re-judges the school's devices.
func TestPolicyChange(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		id := enroll(t, h.token(t, 1, time.Hour), "SN-POL")
		rep, _ := report("SN-POL", "LAPTOP-POL")
		rep.Posture = &agentv1.Posture{ScreenLock: &agentv1.ScreenLock{IdleLockSeconds: 900, PasswordOnWake: true}}
		if _, err := agentClient(t, id).CheckIn(ctx, &agentv1.CheckInRequest{Report: rep, ReportHash: collect.Hash(rep)}); err != nil {
			t.Fatal(err)
		}
		screenLock := func() inventory.RuleResult {
			var dev struct{ Compliance inventory.Compliance }
			h.get(t, "/api/v1/devices/"+id.State.DeviceID, h.apiToken, &dev)
			for _, r := range dev.Compliance.Rules {
				if r.Rule == inventory.RuleScreenLock {
					return r
				}
			}
			t.Fatal("no screen_lock rule")
			return inventory.RuleResult{}
		}
		if r := screenLock(); r.Status != inventory.StatusNoncompliant || !strings.Contains(r.Reason, "limit 10 minutes") {
			t.Fatalf("under the default policy: %+v", r)
		}

		const path = "/api/v1/schools/" + inventory.DefaultSchoolSlug + "/policy"
		var errBody struct{ Error struct{ Message string } }
		for _, tc := range []struct{ body, want string }{
			{`{"max_idle_lock_minutes": "twenty"}`, "max_idle_lock_minutes"},
			{`{"max_idle_lock_minutes": 0}`, "max_idle_lock_minutes"},
			{`{"lock_screen": true}`, "lock_screen"},
			{``, "empty"},
		} {
			if code := h.send(t, "PUT", path, h.apiToken, tc.body, &errBody); code != 400 || !strings.Contains(errBody.Error.Message, tc.want) {
				t.Errorf("PUT %s = %d %q, want 400 naming %s", tc.body, code, errBody.Error.Message, tc.want)
			}
		}
		var got inventory.Policy
		if code := h.send(t, "PUT", path, h.apiToken, `{"max_idle_lock_minutes": 20}`, &got); code != 200 || got.MaxIdleLockMinutes != 20 || !got.RequireEncryption {
			t.Fatalf("PUT = %d %+v, want 20 minutes and the rest kept", code, got)
		}
		if r := screenLock(); r.Status != inventory.StatusCompliant {
			t.Errorf("after allowing 20 minutes: %+v", r)
		}
		if code := h.get(t, path, h.apiToken, &got); code != 200 || got.MaxIdleLockMinutes != 20 {
			t.Errorf("GET policy = %d %+v", code, got)
		}

		if _, _, err := admin.AddUser(ctx, h.app.Store, "staff@school.example", "Sam Staff", "staff", ""); err != nil {
			t.Fatal(err)
		}
		staff, err := admin.CreateAPIToken(ctx, h.app.Store, "staff@school.example")
		if err != nil {
			t.Fatal(err)
		}
		if code := h.send(t, "PUT", path, staff, `{"max_idle_lock_minutes": 60}`, nil); code != 403 {
			t.Errorf("staff changing the policy = %d, want 403", code)
		}
	})
}

// TestRecoveryKeyEscrow checks that a BitLocker recovery password sent by
// the agent is stored sealed, opens with the server's vault key, and is
// never written in the clear to the data directory or the log.
func TestRecoveryKeyEscrow(t *testing.T) {
	backends(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const password = "318923-427801-520905-636834-710919-823086-914144-033528"
		id := enroll(t, h.token(t, 1, time.Hour), "SN-KEY")
		rep, _ := report("SN-KEY", "LAPTOP-KEY")
		rep.Posture = &agentv1.Posture{Encryption: &agentv1.Encryption{
			Volumes:      []*agentv1.Volume{{Name: "C:", OsVolume: true, State: "encrypted", Protection: "on", KeyProtectors: []string{"tpm", "numerical_password"}}},
			RecoveryKeys: []*agentv1.RecoveryKey{{Volume: "C:", ProtectorId: "{5E1F-0001}", NumericalPassword: password}},
		}}
		if _, err := agentClient(t, id).CheckIn(ctx, &agentv1.CheckInRequest{Report: rep, ReportHash: collect.Hash(rep)}); err != nil {
			t.Fatal(err)
		}
		keys, err := h.app.Store.FindRecoveryKeys(ctx, uuid.MustParse(id.State.DeviceID))
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0].ProtectorID != "{5E1F-0001}" || keys[0].Volume != "C:" {
			t.Fatalf("escrowed keys = %+v", keys)
		}
		if strings.Contains(string(keys[0].Sealed), password) {
			t.Fatal("the store holds the password in the clear")
		}
		v, err := vault.LoadOrCreate(h.dataDir)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := v.Open(keys[0].Sealed, vault.RecoveryKeyContext("{5E1F-0001}"))
		if err != nil || string(plain) != password {
			t.Errorf("opening the escrowed key = %q, %v", plain, err)
		}

		// Neither the device API, the data directory nor the log shows it.
		var dev map[string]any
		h.get(t, "/api/v1/devices/"+id.State.DeviceID, h.apiToken, &dev)
		if b, _ := json.Marshal(dev); strings.Contains(string(b), password) || strings.Contains(string(b), "5E1F") {
			t.Error("the device API shows the recovery key")
		}
		filepath.WalkDir(h.dataDir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(path); strings.Contains(string(b), password) {
					t.Errorf("%s holds the password in the clear", path)
				}
			}
			return nil
		})
		if strings.Contains(h.logs.String(), password) {
			t.Error("the server logged the password")
		}
	})
}
