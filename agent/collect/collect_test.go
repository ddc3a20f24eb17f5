package collect

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// sampleReport returns a filled-in report, new on each call.
func sampleReport() *agentv1.Report {
	return &agentv1.Report{
		Hardware: &agentv1.Hardware{
			Make:          "Dell Inc.",
			Model:         "Latitude 5440",
			Serial:        "7XK2QZ3",
			ChassisType:   "Notebook",
			Hostname:      "ST-LAP-0042",
			OsName:        "Microsoft Windows 11 Education",
			OsVersion:     "10.0.22631.3447 Build 22631.3447 (23H2)",
			KernelVersion: "10.0.22631.3447 Build 22631.3447",
			Arch:          "x86_64",
			OsInstallDate: timestamppb.New(time.Date(2024, 3, 15, 9, 30, 12, 0, time.UTC)),
			CpuModel:      "13th Gen Intel(R) Core(TM) i5-1345U",
			CpuCores:      12,
			MemoryBytes:   16 << 30,
			Disks:         []*agentv1.Disk{{Name: `\\.\PHYSICALDRIVE0`, Model: "KIOXIA KBG50ZNV512G", SizeBytes: 512105932800}},
			MacAddresses:  []string{"8c:16:45:aa:bb:cc", "a4:c3:f0:11:22:33"},
			LoggedInUser:  `SCHOOL\jsmith`,
			AgentVersion:  "1.2.0",
		},
		Posture: &agentv1.Posture{
			Antivirus:  &agentv1.Antivirus{Products: []*agentv1.AntivirusProduct{{Name: "Windows Defender", Source: "defender", Enabled: true}}},
			Encryption: &agentv1.Encryption{UnknownReason: "no permission"},
		},
	}
}

func TestHash(t *testing.T) {
	base := Hash(sampleReport())
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("Hash = %q, want 64 lower-case hex digits", base)
	}
	if got := Hash(sampleReport()); got != base {
		t.Errorf("Hash of an equal report = %s, want %s", got, base)
	}
	for _, tc := range []struct {
		name   string
		change func(r *agentv1.Report)
	}{
		{"Serial", func(r *agentv1.Report) { r.Hardware.Serial = "7XK2QZ4" }},
		{"Memory", func(r *agentv1.Report) { r.Hardware.MemoryBytes++ }},
		{"DiskSize", func(r *agentv1.Report) { r.Hardware.Disks[0].SizeBytes = 1 }},
		{"MACOrder", func(r *agentv1.Report) {
			m := r.Hardware.MacAddresses
			m[0], m[1] = m[1], m[0]
		}},
		{"InstallDate", func(r *agentv1.Report) { r.Hardware.OsInstallDate.Seconds++ }},
		{"Posture", func(r *agentv1.Report) { r.Posture.Encryption.UnknownReason = "timed out" }},
		{"AntivirusOff", func(r *agentv1.Report) { r.Posture.Antivirus.Products[0].Enabled = false }},
		{"NoPosture", func(r *agentv1.Report) { r.Posture = nil }},
		{"AgentVersion", func(r *agentv1.Report) { r.Hardware.AgentVersion = "1.2.1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			tc.change(r)
			if got := Hash(r); got == base {
				t.Errorf("Hash unchanged (%s) after changing %s", got, tc.name)
			}
		})
	}
}

func TestCollectHardware(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	parts := []part{
		{"host", func(_ context.Context, hw *agentv1.Hardware) error {
			hw.Hostname = "lab-07"
			hw.LoggedInUser = "from-host"
			return nil
		}},
		{"panics", func(_ context.Context, hw *agentv1.Hardware) error {
			hw.Serial = "half-written"
			var m map[string]int
			m["boom"]++ // nil map write panics
			return nil
		}},
		{"hangs", func(_ context.Context, hw *agentv1.Hardware) error {
			<-release // ignores its context, as a stuck WMI query does
			hw.Model = "too late"
			return nil
		}},
		{"fails partly", func(_ context.Context, hw *agentv1.Hardware) error {
			hw.CpuModel = "Intel(R) Celeron(R) N4500"
			return errors.New("cpu count: no permission")
		}},
		{"user", func(_ context.Context, hw *agentv1.Hardware) error {
			hw.LoggedInUser = "jsmith"
			return nil
		}},
		{"empty user", func(_ context.Context, hw *agentv1.Hardware) error {
			return errors.New("users: cannot list sessions on this OS")
		}},
	}

	start := time.Now()
	hw, errs := collectHardware(context.Background(), parts, 100*time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("collectHardware took %s with one part hanging", d)
	}

	want := &agentv1.Hardware{Hostname: "lab-07", CpuModel: "Intel(R) Celeron(R) N4500", LoggedInUser: "jsmith"}
	if !proto.Equal(hw, want) {
		t.Errorf("hardware = %v, want %v", hw, want)
	}
	var names []string
	for _, err := range errs {
		names = append(names, strings.SplitN(err.Error(), ":", 2)[0])
	}
	if got, want := strings.Join(names, ","), "panics,hangs,fails partly,empty user"; got != want {
		t.Errorf("failed parts = %q, want %q (errors: %v)", got, want, errs)
	}
	if !strings.Contains(errs[0].Error(), "panic") {
		t.Errorf("panic error = %v", errs[0])
	}
	if !errors.Is(errs[1], context.DeadlineExceeded) {
		t.Errorf("hang error = %v, want deadline exceeded", errs[1])
	}
}

func TestCollectHardware_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hw, errs := collectHardware(ctx, []part{{"waits", func(ctx context.Context, hw *agentv1.Hardware) error {
		<-ctx.Done()
		return ctx.Err()
	}}}, time.Hour)
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("errors = %v, want one context.Canceled", errs)
	}
	if !proto.Equal(hw, &agentv1.Hardware{}) {
		t.Errorf("hardware = %v, want empty", hw)
	}
}
