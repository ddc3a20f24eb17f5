package collect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func TestCollect_ThisMachine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	r := Collect(ctx, "1.2.3-test")
	t.Logf("Collect took %s: %v", time.Since(start), r)

	hw := r.GetHardware()
	if hw.GetHostname() == "" {
		t.Error("hostname is empty")
	}
	if hw.GetOsName() == "" {
		t.Error("OS name is empty")
	}
	if hw.GetCpuCores() <= 0 {
		t.Errorf("CPU cores = %d, want > 0", hw.GetCpuCores())
	}
	if hw.GetMemoryBytes() == 0 {
		t.Error("memory is 0")
	}
	if got := hw.GetAgentVersion(); got != "1.2.3-test" {
		t.Errorf("agent version = %q", got)
	}
	p := r.GetPosture()
	if p.GetAntivirus() == nil || p.GetEncryption() == nil || p.GetScreenLock() == nil || p.GetUsb() == nil {
		t.Errorf("posture lacks a concern: %v", p)
	}
	if Hash(r) == "" {
		t.Error("Hash of the collected report is empty")
	}
	// The parts are independent, so a report collected again differs at most in what changed
	// meanwhile on the machine; the fields checked above must be stable.
	r2 := Collect(ctx, "1.2.3-test")
	if r2.GetHardware().GetHostname() != hw.GetHostname() || r2.GetHardware().GetMemoryBytes() != hw.GetMemoryBytes() {
		t.Errorf("second collection differs: %v", r2.GetHardware())
	}
}

func TestCollectDMI(t *testing.T) {
	hw := &agentv1.Hardware{}
	if err := collectDMI(filepath.Join("testdata", "dmi", "lenovo-thinkpad-x1"), hw); err != nil {
		t.Fatal(err)
	}
	want := &agentv1.Hardware{Make: "LENOVO", Model: "ThinkPad X1 Carbon Gen 10", Serial: "PF3LMN8Q", ChassisType: "Notebook"}
	if !proto.Equal(hw, want) {
		t.Errorf("hardware = %v, want %v", hw, want)
	}
	if err := collectDMI(filepath.Join("testdata", "dmi", "missing"), &agentv1.Hardware{}); err == nil {
		t.Error("collectDMI on a missing directory: want error")
	}
}

func TestCollectBlockDisks(t *testing.T) {
	hw := &agentv1.Hardware{}
	if err := collectBlockDisks(filepath.Join("testdata", "block"), hw); err != nil {
		t.Fatal(err)
	}
	if len(hw.Disks) != 4 {
		t.Errorf("disks = %v, want 4", hw.Disks)
	}
}

// TestCollectBlockDisks_Sysfs reads this machine's /sys/block, whose entries are symbolic links
// into /sys/devices, to check that they are followed.
func TestCollectBlockDisks_Sysfs(t *testing.T) {
	if _, err := os.Stat(blockDir); err != nil {
		t.Skipf("no %s: %v", blockDir, err)
	}
	hw := &agentv1.Hardware{}
	if err := collectBlockDisks(blockDir, hw); err != nil {
		t.Fatal(err)
	}
	t.Logf("disks: %v", hw.Disks)
	for _, d := range hw.Disks {
		if d.Name == "" || d.SizeBytes == 0 {
			t.Errorf("disk without name or size: %v", d)
		}
	}
}
