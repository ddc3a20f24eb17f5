package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/collect"
	"github.com/rollcall/rollcall/agent/outbox"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
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
		if dev.Compliance.Status != inventory.StatusNoncompliant {
			t.Errorf("compliance = %+v, want noncompliant", dev.Compliance)
		}
		failing := dev.Compliance.With(inventory.StatusNoncompliant)
		if len(failing) != 1 || failing[0].Rule != inventory.RuleEncryption || !strings.Contains(failing[0].Reason, "suspended") {
			t.Errorf("failing rules = %+v, want only encryption, saying suspended", failing)
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

// TestUSBEvents checks that a USB insertion queued by the agent reaches the
// server at once and shows in the fleet's USB events, flagged for review.
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
		stick := &agentv1.UsbDevice{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade",
			Serial: "4C53000123", Class: "mass_storage", MassStorage: true}
		if err := r.USBEvent("usb.inserted", &agentv1.UsbEvent{Device: stick, User: "tess"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := r.SendEvents(ctx); err != nil {
			t.Fatal(err)
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
