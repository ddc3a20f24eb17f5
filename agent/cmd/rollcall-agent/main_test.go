package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/agent/outbox"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func TestCollectJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"rollcall-agent", "collect", "--json"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("collect --json: %v (%s)", err, errb.String())
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"hardware", "antivirus", "encryption", "screen_lock", "usb"} {
		if len(doc[k]) == 0 || string(doc[k]) == "null" {
			t.Errorf("key %q missing or null", k)
		}
	}
	if len(doc) != 5 {
		t.Errorf("keys %v, want exactly the five concerns", doc)
	}
	// Every concern is read or says why not.
	for _, k := range []string{"antivirus", "encryption", "screen_lock", "usb"} {
		var c struct {
			UnknownReason string `json:"unknown_reason"`
		}
		json.Unmarshal(doc[k], &c)
		if c.UnknownReason == "" && strings.Count(string(doc[k]), ":") < 2 {
			t.Errorf("%s neither read nor explained: %s", k, doc[k])
		}
	}
}

func TestPrintReport_HidesRecoveryPasswords(t *testing.T) {
	const secret = "123456-234567-345678-456789-567890-678901-789012-890123"
	rep := &agentv1.Report{
		Hardware: &agentv1.Hardware{Hostname: "LAPTOP-7"},
		Posture: &agentv1.Posture{Encryption: &agentv1.Encryption{
			Volumes:      []*agentv1.Volume{{Name: "C:", State: "encrypted"}},
			RecoveryKeys: []*agentv1.RecoveryKey{{Volume: "C:", ProtectorId: "{0D1E}", NumericalPassword: secret}},
		}},
	}
	var out bytes.Buffer
	if err := printReport(&out, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secret) {
		t.Error("collect printed a recovery password")
	}
	if !strings.Contains(out.String(), "{0D1E}") || !strings.Contains(out.String(), hiddenPassword) {
		t.Errorf("the protector should be listed with its password hidden:\n%s", out.String())
	}
	if rep.Posture.Encryption.RecoveryKeys[0].NumericalPassword != secret {
		t.Error("printing changed the report itself")
	}
	if !strings.Contains(out.String(), `"antivirus": null`) {
		t.Errorf("a concern not in the report should print as null:\n%s", out.String())
	}
}

func TestReportUSBHistory(t *testing.T) {
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	r := &client.Runner{Outbox: ob}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	rec := func(h int) *agentv1.UsbEvent {
		at := timestamppb.New(day.Add(time.Duration(h) * time.Hour))
		return &agentv1.UsbEvent{Device: &agentv1.UsbDevice{VendorId: "0781", ProductId: "5567"}, FirstSeen: at, LastSeen: at}
	}
	history := func(context.Context) ([]*agentv1.UsbEvent, error) {
		return []*agentv1.UsbEvent{rec(1), rec(5), rec(9), {Device: &agentv1.UsbDevice{VendorId: "1234"}}}, nil
	}
	// First run: everything with a time is reported.
	if err := reportUSBHistory(context.Background(), r, history, day.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := ob.EventCount(); n != 3 {
		t.Fatalf("first run queued %d events, want 3", n)
	}
	// Next run: only what happened after the agent last watched (6h).
	if err := reportUSBHistory(context.Background(), r, history, day.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	events, _ := ob.PendingEvents(0)
	if len(events) != 4 {
		t.Fatalf("after the second run %d events are queued, want 4", len(events))
	}
	// A record without times (what macOS gives) is reported once.
	attached := func(context.Context) ([]*agentv1.UsbEvent, error) {
		return []*agentv1.UsbEvent{{Device: &agentv1.UsbDevice{VendorId: "05ac", ProductId: "12a8", Serial: "X"}, LastSeen: timestamppb.New(time.Now())}}, nil
	}
	for range 2 {
		if err := reportUSBHistory(context.Background(), r, attached, day.Add(10*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := ob.EventCount(); n != 5 {
		t.Errorf("%d events queued, want 5: the attached device once", n)
	}
	last := events[3]
	if last.GetType() != "usb.recorded" || !last.GetOccurredAt().AsTime().Equal(day.Add(9*time.Hour)) || last.GetUsb().GetDevice().GetVendorId() != "0781" {
		t.Errorf("second run queued %v, want the 09:00 insertion as usb.recorded", last)
	}
}
