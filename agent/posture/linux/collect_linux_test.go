package linux

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// These tests read this machine for real. What they assert holds on any
// Linux machine: each concern is read or says why not, never both.

func TestEncryption_ThisMachine(t *testing.T) {
	if _, err := exec.LookPath("lsblk"); err != nil {
		got := Encryption(context.Background())
		if got.GetUnknownReason() != "command absent: lsblk" {
			t.Errorf("without lsblk: %v", got)
		}
		return
	}
	got := Encryption(context.Background())
	if got.GetUnknownReason() != "" {
		t.Fatalf("Encryption: %s", got.GetUnknownReason())
	}
	var root *agentv1.Volume
	for _, v := range got.GetVolumes() {
		if v.GetOsVolume() {
			root = v
		}
		if v.GetState() != "encrypted" && v.GetState() != "not_encrypted" {
			t.Errorf("volume %s state %q", v.GetName(), v.GetState())
		}
	}
	if root == nil || root.GetMountPoint() != "/" {
		t.Errorf("no OS volume mounted at / among %v", got.GetVolumes())
	}
}

func TestUSB_ThisMachine(t *testing.T) {
	got := USB(context.Background())
	if got.GetUnknownReason() != "" {
		t.Fatalf("USB: %s", got.GetUnknownReason())
	}
	want := 0
	if entries, err := os.ReadDir(usbDevices); err == nil {
		for _, e := range entries {
			if b, err := os.ReadFile(usbDevices + "/" + e.Name() + "/idVendor"); err == nil && string(b) != "1d6b\n" {
				want++
			}
		}
	}
	if len(got.GetDevices()) != want {
		t.Errorf("USB listed %d devices, sysfs has %d that are not root hubs", len(got.GetDevices()), want)
	}
}

func TestAntivirusAndScreenLock_ThisMachine(t *testing.T) {
	av := Antivirus(context.Background())
	if _, err := os.Stat(clamDir); err != nil && len(av.GetProducts()) > 0 && !runningCommands()["clamd"] && !runningCommands()["freshclam"] {
		t.Errorf("ClamAV reported with no database and no process: %v", av)
	}
	if av.GetUnknownReason() != "" && len(av.GetProducts()) > 0 {
		t.Errorf("antivirus both unknown and listed: %v", av)
	}
	sl := ScreenLock(context.Background())
	if (sl.GetUnknownReason() == "") == (len(sl.GetSettings()) == 0) {
		t.Errorf("screen lock must give settings or a reason, not both or neither: %v", sl)
	}
}

func TestWatchUSB_ThisMachine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The socket opens for any user; with no device plugged in nothing is
	// emitted, and cancelling returns nil.
	if err := WatchUSB(ctx, func(string, *agentv1.UsbEvent) {}); err != nil {
		t.Fatalf("WatchUSB: %v", err)
	}
}

func TestUSBHistory_ThisMachine(t *testing.T) {
	events, err := USBHistory(context.Background())
	if err != nil {
		t.Fatalf("USBHistory: %v", err)
	}
	for _, e := range events {
		if e.GetDevice().GetVendorId() == "" || e.GetFirstSeen() == nil {
			t.Errorf("recorded insertion without IDs or time: %v", e)
		}
	}
}
