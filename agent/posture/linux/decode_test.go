package linux

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// equalProtos fails t unless want and got hold equal messages in order.
func equalProtos[M proto.Message](t *testing.T, what string, want, got []M) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: got %d, want %d:\n got %v\nwant %v", what, len(got), len(want), got, want)
		return
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			t.Errorf("%s[%d]:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

func TestParseClamHeader(t *testing.T) {
	tests := []struct {
		file        string
		wantVersion int
		wantBuilt   time.Time
		wantErr     string
	}{
		{"clamav-daily.cld", 27466, time.Date(2026, 11, 20, 7, 49, 0, 0, time.UTC), ""},
		{"clamav-main.cvd", 62, time.Date(2021, 9, 16, 12, 32, 55, 0, time.UTC), ""},
		{"clamav-bad.cvd", 0, time.Time{}, "fields"},
		{"lsblk-luks.json", 0, time.Time{}, "not a ClamAV"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			db, err := parseClamHeader(readTestdata(t, tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if db.Version != tt.wantVersion || !db.Built.Equal(tt.wantBuilt) {
				t.Errorf("got version %d built %v, want %d %v", db.Version, db.Built, tt.wantVersion, tt.wantBuilt)
			}
		})
	}
}

func TestClamProduct(t *testing.T) {
	built := time.Date(2026, 11, 20, 7, 49, 0, 0, time.UTC)
	db := clamDB{Version: 27466, Built: built}
	tests := []struct {
		name                  string
		state                 clamState
		now                   time.Time
		wantEnabled, wantUp   bool
		wantRealTime          bool
		wantState, wantSigVer string
	}{
		{"AllRunningFresh", clamState{Daily: db, Clamd: true, OnAccess: true, Freshclam: true}, built.Add(5 * time.Hour), true, true, true, "freshclam running", "27466"},
		{"FreshclamStopped", clamState{Daily: db, Clamd: true}, built.Add(5 * time.Hour), true, false, false, "freshclam stopped", "27466"},
		{"Stale", clamState{Daily: db, Clamd: true, Freshclam: true}, built.Add(72 * time.Hour), true, false, false, "freshclam running", "27466"},
		{"NoDaemon", clamState{Daily: db, Freshclam: true}, built.Add(time.Hour), false, true, false, "freshclam running", "27466"},
		{"NoDatabase", clamState{Clamd: true, Freshclam: true}, built, true, false, false, "freshclam running", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := clamProduct(tt.state, tt.now)
			if p.GetEnabled() != tt.wantEnabled || p.GetUpToDate() != tt.wantUp || p.GetRealTimeProtection() != tt.wantRealTime ||
				p.GetState() != tt.wantState || p.GetSignatureVersion() != tt.wantSigVer || p.GetSource() != "clamav" {
				t.Errorf("got %v", p)
			}
			if p.RealTimeProtection == nil {
				t.Error("real-time protection left unset; ClamAV's clamonacc says it")
			}
			if tt.wantSigVer != "" && !p.GetSignatureUpdated().AsTime().Equal(built) {
				t.Errorf("signature_updated = %v, want %v", p.GetSignatureUpdated().AsTime(), built)
			}
		})
	}
}

func TestDecodeLsblk(t *testing.T) {
	vol := func(name, mp string, os bool, state, method string) *agentv1.Volume {
		v := &agentv1.Volume{Name: name, MountPoint: mp, OsVolume: os, State: state, Method: method}
		if state == "encrypted" {
			v.EncryptionPercent = 100
		}
		return v
	}
	tests := []struct {
		file string
		want []*agentv1.Volume
	}{
		{"lsblk-luks.json", []*agentv1.Volume{
			vol("/dev/vgubuntu-root", "/", true, "encrypted", "LUKS"),
			vol("/dev/nvme0n1p2", "/boot", false, "not_encrypted", ""),
			vol("/dev/nvme0n1p1", "/boot/efi", false, "not_encrypted", ""),
			vol("/dev/sda1", "/media/tess/STICK", false, "not_encrypted", ""),
		}},
		{"lsblk-plain-old.json", []*agentv1.Volume{
			vol("/dev/sda1", "/", true, "not_encrypted", ""),
			vol("/dev/sda2", "/home", false, "not_encrypted", ""),
		}},
		{"lsblk-btrfs-subvolumes.json", []*agentv1.Volume{
			vol("/dev/luks-3f0c", "/", true, "encrypted", "LUKS"),
			vol("/dev/luks-3f0c", "/home", false, "encrypted", "LUKS"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeLsblk(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			equalProtos(t, "volumes", tt.want, got)
		})
	}
	if _, err := decodeLsblk([]byte("lsblk: unknown column: MOUNTPOINTS")); err == nil {
		t.Error("decodeLsblk accepted text that is not JSON")
	}
}

// sysfsUSB is a /sys/bus/usb/devices with a root hub, a USB stick that
// leaves its class to its interface, a keyboard and a hub.
func sysfsUSB() fstest.MapFS {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s + "\n")} }
	return fstest.MapFS{
		"usb1/idVendor":                  f("1d6b"),
		"usb1/idProduct":                 f("0002"),
		"usb1/bDeviceClass":              f("09"),
		"1-1/idVendor":                   f("0781"),
		"1-1/idProduct":                  f("5567"),
		"1-1/manufacturer":               f("SanDisk"),
		"1-1/product":                    f("Cruzer Blade"),
		"1-1/serial":                     f("4C530001230512109084"),
		"1-1/bDeviceClass":               f("00"),
		"1-1/1-1:1.0/bInterfaceClass":    f("08"),
		"1-2/idVendor":                   f("046D"),
		"1-2/idProduct":                  f("C31C"),
		"1-2/product":                    f("USB Keyboard"),
		"1-2/bDeviceClass":               f("00"),
		"1-2/1-2:1.0/bInterfaceClass":    f("03"),
		"1-2/1-2:1.1/bInterfaceClass":    f("03"),
		"1-3/idVendor":                   f("05e3"),
		"1-3/idProduct":                  f("0610"),
		"1-3/bDeviceClass":               f("09"),
		"1-3/1-3:1.0/bInterfaceClass":    f("09"),
		"1-4/idVendor":                   f("0bda"),
		"1-4/idProduct":                  f("8153"),
		"1-4/bDeviceClass":               f("ff"),
		"1-4/1-4:1.0/bInterfaceClass":    f("ff"),
		"1-4/1-4:1.1/bInterfaceClass":    f("08"),
		"1-5/manufacturer":               f("no IDs: not a device"),
		"1-1/1-1:1.0/bInterfaceSubClass": f("06"),
	}
}

func TestDecodeSysfsUSB(t *testing.T) {
	got, err := decodeSysfsUSB(sysfsUSB())
	if err != nil {
		t.Fatal(err)
	}
	want := []*agentv1.UsbDevice{
		{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230512109084", Class: "mass_storage", MassStorage: true},
		{VendorId: "046d", ProductId: "c31c", Product: "USB Keyboard", Class: "hid"},
		{VendorId: "05e3", ProductId: "0610", Class: "hub"},
		{VendorId: "0bda", ProductId: "8153", Class: "vendor_specific", MassStorage: true},
	}
	equalProtos(t, "devices", want, got)
}

func TestUsbClassName(t *testing.T) {
	for code, want := range map[int]string{0x08: "mass_storage", 0x03: "hid", 0x09: "hub", 0xe0: "wireless", 0xff: "vendor_specific", 0x42: "other"} {
		if got := usbClassName(code); got != want {
			t.Errorf("usbClassName(%#x) = %q, want %q", code, got, want)
		}
	}
}

// uevent reads a recorded uevent, stored with newlines for NUL bytes.
func ueventMsg(t *testing.T, name string) []byte {
	return bytes.ReplaceAll(readTestdata(t, name), []byte("\n"), []byte{0})
}

func TestParseUevent(t *testing.T) {
	tests := []struct {
		file       string
		action     string
		usbDevice  bool
		vid, pid   string
		interface_ string
	}{
		{"uevent-add-device.txt", "add", true, "0781", "5567", ""},
		{"uevent-add-interface.txt", "add", false, "0781", "5567", "8/6/80"},
		{"uevent-remove-device.txt", "remove", true, "0781", "5567", ""},
		{"uevent-remove-unseen.txt", "remove", true, "046d", "c52b", ""},
		{"uevent-add-net.txt", "add", false, "", "", "veth1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			u, err := parseUevent(ueventMsg(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			vid, pid, _ := u.productIDs()
			if u.Action != tt.action || u.usbDevice() != tt.usbDevice || vid != tt.vid || pid != tt.pid || u.Env["INTERFACE"] != tt.interface_ {
				t.Errorf("got %+v (vid %q pid %q)", u, vid, pid)
			}
			if !strings.HasPrefix(u.DevPath, "/devices/") {
				t.Errorf("devpath %q", u.DevPath)
			}
		})
	}
	for _, bad := range []string{"libudev\x00\xfe\xed\xca\xfe", "no at sign\x00A=b"} {
		if _, err := parseUevent([]byte(bad)); err == nil {
			t.Errorf("parseUevent(%q) accepted it", bad)
		}
	}
}

func TestDecodeKernelUSBLog(t *testing.T) {
	var lines []kernelLogLine
	for _, l := range strings.Split(string(readTestdata(t, "journal-usb.txt")), "\n") {
		if kl, ok := parseShortUnix(l); ok {
			lines = append(lines, kl)
		}
	}
	if len(lines) != 14 {
		t.Fatalf("parsed %d kernel lines, want 14", len(lines))
	}
	recs := decodeKernelUSBLog(lines)
	if len(recs) != 2 {
		t.Fatalf("found %d insertions, want 2 (the root hub is left out): %v", len(recs), recs)
	}
	want := []struct {
		port string
		at   time.Time
		dev  *agentv1.UsbDevice
	}{
		{"1-1", time.Unix(1763625600, 254321000).UTC(), &agentv1.UsbDevice{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230512109084", Class: "mass_storage", MassStorage: true}},
		{"1-2.3", time.Unix(1763632800, 700000000).UTC(), &agentv1.UsbDevice{VendorId: "046d", ProductId: "c31c", Vendor: "Logitech", Product: "USB Keyboard"}},
	}
	for i, w := range want {
		if recs[i].Port != w.port || !recs[i].At.Equal(w.at) || !proto.Equal(recs[i].Dev, w.dev) {
			t.Errorf("insertion %d = %s at %v %v, want %s at %v %v", i, recs[i].Port, recs[i].At, recs[i].Dev, w.port, w.at, w.dev)
		}
	}
	ev := recordEvent(recs[1])
	if ev.GetDevice().GetClass() != "other" || !ev.GetFirstSeen().AsTime().Equal(want[1].at) || !ev.GetLastSeen().AsTime().Equal(want[1].at) {
		t.Errorf("recorded event = %v", ev)
	}
}

func TestParseGVariant(t *testing.T) {
	tests := []struct {
		in      string
		n       int64
		b       string // "", "true" or "false"
		wantErr bool
	}{
		{"uint32 300\n", 300, "", false},
		{"0", 0, "", false},
		{"true", 0, "true", false},
		{"false\n", 0, "false", false},
		{"'blank-screen'", 0, "", true},
	}
	for _, tt := range tests {
		n, b, err := parseGVariant(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseGVariant(%q) err = %v", tt.in, err)
			continue
		}
		if tt.wantErr {
			continue
		}
		if tt.b != "" {
			if b == nil || n != nil || (*b && tt.b != "true") || (!*b && tt.b != "false") {
				t.Errorf("parseGVariant(%q) = %v %v", tt.in, n, b)
			}
		} else if n == nil || *n != tt.n || b != nil {
			t.Errorf("parseGVariant(%q) = %v %v, want %d", tt.in, n, b, tt.n)
		}
	}
}

func TestEffectiveGnomeLock(t *testing.T) {
	num := func(n int64) *int64 { return &n }
	yes, no := func() *bool { b := true; return &b }(), func() *bool { b := false; return &b }()
	policyKeyfile := "# school policy\n[org/gnome/desktop/session]\nidle-delay=uint32 300\n\n[org/gnome/desktop/screensaver]\nlock-enabled=true\nlock-delay=uint32 0\n"
	policy, locked := parseDconfPolicy([]string{policyKeyfile}, []string{"/org/gnome/desktop/session/idle-delay\n/org/gnome/desktop/screensaver/lock-enabled\n"})
	unlocked, none := parseDconfPolicy([]string{policyKeyfile}, nil)
	if !locked["idle-delay"] || !locked["lock-enabled"] || locked["lock-delay"] || len(none) != 0 {
		t.Fatalf("locks = %v, %v", locked, none)
	}
	tests := []struct {
		name        string
		user        gnomeLock
		policy      gnomeLock
		locked      map[string]bool
		wantSeconds int64
		wantPass    bool
		wantSources string // the settings' sources in order
		wantUnknown bool
	}{
		{"UserDefaults", gnomeLock{IdleDelay: num(300), LockEnabled: yes, LockDelay: num(0)}, gnomeLock{}, nil, 300, true, "user,user,user", false},
		{"UserLockDelay", gnomeLock{IdleDelay: num(600), LockEnabled: yes, LockDelay: num(30)}, gnomeLock{}, nil, 630, true, "user,user,user", false},
		{"LockOff", gnomeLock{IdleDelay: num(300), LockEnabled: no, LockDelay: num(0)}, gnomeLock{}, nil, 0, false, "user,user,user", false},
		{"NeverIdle", gnomeLock{IdleDelay: num(0), LockEnabled: yes, LockDelay: num(0)}, gnomeLock{}, nil, 0, true, "user,user,user", false},
		{"LockedPolicyWins", gnomeLock{IdleDelay: num(0), LockEnabled: no, LockDelay: num(60)}, policy, locked, 360, true, "policy,policy,user", false},
		{"UnlockedPolicyIsDefault", gnomeLock{IdleDelay: num(900), LockEnabled: yes}, unlocked, none, 900, true, "user,user,machine", false},
		{"PolicyOnly", gnomeLock{}, policy, locked, 300, true, "policy,policy,machine", false},
		{"NothingKnown", gnomeLock{LockDelay: num(0)}, gnomeLock{}, nil, 0, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := effectiveGnomeLock("tess", tt.user, tt.policy, tt.locked)
			if tt.wantUnknown {
				if sl.GetUnknownReason() == "" || len(sl.GetSettings()) != 0 {
					t.Errorf("got %v, want only an unknown reason", sl)
				}
				return
			}
			var sources []string
			for _, s := range sl.GetSettings() {
				sources = append(sources, s.GetSource())
			}
			if sl.GetIdleLockSeconds() != tt.wantSeconds || sl.GetPasswordOnWake() != tt.wantPass ||
				strings.Join(sources, ",") != tt.wantSources || sl.GetUser() != "tess" || sl.GetUnknownReason() != "" {
				t.Errorf("got %v (sources %v)", sl, sources)
			}
		})
	}
}
