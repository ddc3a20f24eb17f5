package mac

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// readTestdata returns the contents of testdata/name.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func TestDecodeFdesetup(t *testing.T) {
	for _, tc := range []struct {
		file    string
		state   string
		percent float64
		wantErr string
	}{
		{file: "fdesetup-on.txt", state: "encrypted", percent: 100},
		{file: "fdesetup-off.txt", state: "not_encrypted"},
		{file: "fdesetup-encrypting.txt", state: "encrypting", percent: 42},
		{file: "fdesetup-decrypting.txt", state: "decrypting", percent: 88},
		{file: "fdesetup-restart.txt", state: "encrypting"},
		{file: "fdesetup-deferred.txt", state: "not_encrypted"},
		{file: "fdesetup-unexpected.txt", wantErr: `unexpected fdesetup output: "Error: Unable to communicate with the FileVault service."`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := decodeFdesetup(string(readTestdata(t, tc.file)))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := &agentv1.Volume{MountPoint: "/", OsVolume: true, Method: "FileVault", State: tc.state, EncryptionPercent: tc.percent}
			if !proto.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("PercentWithFraction", func(t *testing.T) {
		got, err := decodeFdesetup("FileVault is On.\nEncryption in progress: Percent completed = 42.57\n")
		if err != nil || got.GetEncryptionPercent() != 42.57 {
			t.Errorf("got %v, %v; want 42.57", got, err)
		}
	})
	t.Run("PercentMissing", func(t *testing.T) {
		if _, err := decodeFdesetup("Encryption in progress: Percent completed = \n"); err == nil {
			t.Error("no error for a progress line without a percentage")
		}
	})
}

func TestDiskutilVolumeName(t *testing.T) {
	got, err := diskutilVolumeName(readTestdata(t, "diskutil-info.plist"))
	if err != nil || got != "Staff Laptop HD" {
		t.Errorf("got %q, %v; want Staff Laptop HD", got, err)
	}
	if _, err := diskutilVolumeName([]byte(`<plist version="1.0"><dict><key>MountPoint</key><string>/</string></dict></plist>`)); err == nil {
		t.Error("no error without VolumeName")
	}
}

func TestDecodeSysadminctl(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    lockStatus
		text    string
		wantErr bool
	}{
		{file: "sysadminctl-immediate.txt", want: lockStatus{Delay: 0}, text: "delay is immediate"},
		{file: "sysadminctl-300.txt", want: lockStatus{Delay: 300}, text: "delay is 300 seconds"},
		{file: "sysadminctl-off.txt", want: lockStatus{Off: true}, text: "off"},
		{file: "sysadminctl-unexpected.txt", wantErr: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := decodeSysadminctl(string(readTestdata(t, tc.file)))
			if tc.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "unexpected sysadminctl output: ") {
					t.Fatalf("err = %v, want unexpected output", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || got.String() != tc.text {
				t.Errorf("got %+v (%q), want %+v (%q)", got, got, tc.want, tc.text)
			}
		})
	}
}

func TestDecodeDefaults(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int64
	}{
		{"defaults-idletime.txt", 300},
		{"defaults-never.txt", 0},
	} {
		got, err := decodeDefaultsInt(string(readTestdata(t, tc.file)))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.file, got, err, tc.want)
		}
	}
	if got, err := decodeDefaultsInt("600.0\n"); err != nil || got != 600 {
		t.Errorf("600.0: got %d, %v", got, err)
	}
	if _, err := decodeDefaultsInt("{\n}\n"); err == nil {
		t.Error("no error for a dictionary")
	}
	if !defaultsMissing(string(readTestdata(t, "defaults-missing.stderr.txt"))) {
		t.Error("missing key not recognised")
	}
	if defaultsMissing("2024-05-02 09:15:28.456 defaults[1240:56801] Could not write domain") {
		t.Error("another error taken for a missing key")
	}
}

func TestDecodeSpctl(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"spctl-enabled.txt", "enabled"},
		{"spctl-disabled.txt", "disabled"},
	} {
		got, err := decodeSpctl(string(readTestdata(t, tc.file)))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.file, got, err, tc.want)
		}
	}
	if got, err := decodeSpctl("spctl: option requires an argument\n"); err == nil {
		t.Errorf("got %q for unexpected output, want an error", got)
	}
}

func TestDecodePmset(t *testing.T) {
	ds, sl := decodePmset(string(readTestdata(t, "pmset-g.txt")))
	if ds == nil || *ds != 2 || sl == nil || *sl != 1 {
		t.Errorf("displaysleep %v, sleep %v; want 2 and 1", ds, sl)
	}
	ds, sl = decodePmset("Currently in use:\n standby 1\n")
	if ds != nil || sl != nil {
		t.Errorf("got %v %v from output without the timers, want nil", ds, sl)
	}
}

func TestParsePlist(t *testing.T) {
	in := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>s</key><string> text </string>
	<key>i</key><integer>-42</integer>
	<key>r</key><real>1.5</real>
	<key>t</key><true/>
	<key>f</key><false/>
	<key>d</key><date>2024-03-01T08:00:00Z</date>
	<key>b</key><data>aGVs
	bG8=</data>
	<key>a</key><array><string>x</string><integer>1</integer></array>
	<key>n</key><dict><key>k</key><string>v</string></dict>
	<key>e</key><dict/>
</dict>
</plist>`
	got, err := parsePlist([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"s": "text",
		"i": int64(-42),
		"r": 1.5,
		"t": true,
		"f": false,
		"d": time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC),
		"b": []byte("hello"),
		"a": []any{"x", int64(1)},
		"n": map[string]any{"k": "v"},
		"e": map[string]any{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	for name, bad := range map[string]string{
		"Binary":      "bplist00\x00\x01",
		"NotPlist":    `<html></html>`,
		"Empty":       `<plist version="1.0"></plist>`,
		"BadInteger":  `<plist><dict><key>i</key><integer>ten</integer></dict></plist>`,
		"KeyNoValue":  `<plist><dict><key>i</key></dict></plist>`,
		"Truncated":   `<plist><dict><key>i</key><integer>1</integer>`,
		"UnknownType": `<plist><dict><key>i</key><uid>1</uid></dict></plist>`,
	} {
		if _, err := parsePlist([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestXProtectProduct(t *testing.T) {
	mod := time.Date(2024, 4, 30, 18, 2, 11, 0, time.UTC)
	got, err := xprotectProduct(readTestdata(t, "xprotect-info.plist"), mod)
	if err != nil {
		t.Fatal(err)
	}
	want := &agentv1.AntivirusProduct{
		Name:             "XProtect",
		Source:           "xprotect",
		Enabled:          true,
		SignatureVersion: "5272",
		SignatureUpdated: timestamppb.New(mod),
	}
	if !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got.RealTimeProtection != nil || got.UpToDate {
		t.Error("real-time protection or up-to-date set; macOS says neither")
	}
	// Without a short version string the bundle version is taken.
	got, err = xprotectProduct([]byte(`<plist><dict><key>CFBundleVersion</key><string>2196</string></dict></plist>`), time.Time{})
	if err != nil || got.SignatureVersion != "2196" || got.SignatureUpdated != nil {
		t.Errorf("bundle version only: got %v, %v", got, err)
	}
	if _, err := xprotectProduct([]byte("not a plist"), mod); err == nil {
		t.Error("no error for a broken Info.plist")
	}
}

func TestDecodeScreenSaverPolicy(t *testing.T) {
	got, err := decodeScreenSaverPolicy(readTestdata(t, "managed-screensaver.plist"))
	if err != nil {
		t.Fatal(err)
	}
	want := screenSaverPolicy{IdleTime: ptr[int64](600), AskForPassword: ptr(true), AskForPasswordDelay: ptr[int64](5)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// Profiles also write askForPassword as an integer.
	got, err = decodeScreenSaverPolicy([]byte(`<plist><dict><key>askForPassword</key><integer>0</integer></dict></plist>`))
	if err != nil || got.AskForPassword == nil || *got.AskForPassword || got.IdleTime != nil {
		t.Errorf("integer askForPassword: got %+v, %v", got, err)
	}
	// The user-level profile wins over the computer-level one.
	user := screenSaverPolicy{IdleTime: ptr[int64](300)}
	machine := screenSaverPolicy{IdleTime: ptr[int64](1200), AskForPassword: ptr(true)}
	if m := user.over(machine); *m.IdleTime != 300 || m.AskForPassword == nil || !*m.AskForPassword || m.AskForPasswordDelay != nil {
		t.Errorf("over: got %+v", m)
	}
}

func TestScreenLockRaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  screenLockRaw
		want *agentv1.ScreenLock
	}{
		{
			name: "UserSettings",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{Delay: 5}, IdleTime: ptr[int64](300)},
			want: &agentv1.ScreenLock{User: "jsmith", IdleLockSeconds: 305, PasswordOnWake: true, Settings: []*agentv1.ScreenLockSetting{
				{Name: "screenLock", Value: "delay is 5 seconds", Source: "user"},
				{Name: "idleTime", Value: "300", Source: "user"},
			}},
		},
		{
			name: "DisplaySleepFirst",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{}, IdleTime: ptr[int64](1200), DisplaySleep: ptr[int64](2), SystemSleep: ptr[int64](10)},
			want: &agentv1.ScreenLock{User: "jsmith", IdleLockSeconds: 120, PasswordOnWake: true, Settings: []*agentv1.ScreenLockSetting{
				{Name: "screenLock", Value: "delay is immediate", Source: "user"},
				{Name: "idleTime", Value: "1200", Source: "user"},
				{Name: "displaysleep", Value: "2 min", Source: "machine"},
				{Name: "sleep", Value: "10 min", Source: "machine"},
			}},
		},
		{
			name: "NeverIdle",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{}, IdleTime: ptr[int64](0), DisplaySleep: ptr[int64](0), SystemSleep: ptr[int64](0)},
			want: &agentv1.ScreenLock{User: "jsmith", IdleLockSeconds: 0, PasswordOnWake: true, Settings: []*agentv1.ScreenLockSetting{
				{Name: "screenLock", Value: "delay is immediate", Source: "user"},
				{Name: "idleTime", Value: "0", Source: "user"},
				{Name: "displaysleep", Value: "0 min", Source: "machine"},
				{Name: "sleep", Value: "0 min", Source: "machine"},
			}},
		},
		{
			name: "LockOff",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{Off: true}, IdleErr: "idle not read"},
			want: &agentv1.ScreenLock{User: "jsmith", IdleLockSeconds: 0, PasswordOnWake: false, Settings: []*agentv1.ScreenLockSetting{
				{Name: "screenLock", Value: "off", Source: "user"},
			}},
		},
		{
			name: "PolicyWins",
			raw: screenLockRaw{User: "jsmith", Lock: &lockStatus{Off: true}, IdleTime: ptr[int64](1800),
				Policy: screenSaverPolicy{IdleTime: ptr[int64](600), AskForPassword: ptr(true), AskForPasswordDelay: ptr[int64](5)}},
			want: &agentv1.ScreenLock{User: "jsmith", IdleLockSeconds: 605, PasswordOnWake: true, Settings: []*agentv1.ScreenLockSetting{
				{Name: "idleTime", Value: "600", Source: "policy"},
				{Name: "askForPassword", Value: "true", Source: "policy"},
				{Name: "askForPasswordDelay", Value: "5", Source: "policy"},
				{Name: "screenLock", Value: "off", Source: "user"},
				{Name: "idleTime", Value: "1800", Source: "user"},
			}},
		},
		{
			name: "PolicyIdleOnly",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{Delay: 60}, IdleErr: "not set", Policy: screenSaverPolicy{IdleTime: ptr[int64](300)}},
			want: &agentv1.ScreenLock{User: "jsmith", IdleLockSeconds: 360, PasswordOnWake: true, Settings: []*agentv1.ScreenLockSetting{
				{Name: "idleTime", Value: "300", Source: "policy"},
				{Name: "screenLock", Value: "delay is 60 seconds", Source: "user"},
			}},
		},
		{
			name: "LockNotRead",
			raw:  screenLockRaw{User: "jsmith", LockErr: "timed out: launchctl", IdleTime: ptr[int64](300)},
			want: &agentv1.ScreenLock{UnknownReason: "timed out: launchctl"},
		},
		{
			name: "IdleNotSet",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{}, IdleErr: "screen saver idle time not set for jsmith"},
			want: &agentv1.ScreenLock{UnknownReason: "screen saver idle time not set for jsmith"},
		},
		{
			name: "PolicyPasswordWithoutDelay",
			raw:  screenLockRaw{User: "jsmith", Lock: &lockStatus{Off: true}, IdleTime: ptr[int64](300), Policy: screenSaverPolicy{AskForPassword: ptr(true)}},
			want: &agentv1.ScreenLock{UnknownReason: "screen lock delay unknown: a profile requires a password but sets no askForPasswordDelay, and the screen lock is off for jsmith"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.raw.screenLock(); !proto.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// dev is a UsbDevice for comparisons.
func dev(vid, pid, vendor, product, serial, class string, mass bool) *agentv1.UsbDevice {
	return &agentv1.UsbDevice{VendorId: vid, ProductId: pid, Vendor: vendor, Product: product, Serial: serial, Class: class, MassStorage: mass}
}

// equalDevices reports the differences between got and want.
func equalDevices(t *testing.T, got, want []*agentv1.UsbDevice) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d devices, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("device %d:\n got  %v\n want %v", i, got[i], want[i])
		}
	}
}

func TestDecodeSPUSB(t *testing.T) {
	recs, buses, err := decodeSPUSB(readTestdata(t, "sp-usb.json"))
	if err != nil {
		t.Fatal(err)
	}
	if buses != 2 {
		t.Errorf("buses = %d, want 2", buses)
	}
	equalDevices(t, usbDevices(recs), []*agentv1.UsbDevice{
		dev("05e3", "0610", "GenesysLogic", "USB2.0 Hub", "", "", false),
		dev("0781", "5567", "SanDisk", "Cruzer Blade", "4C530001230517117432", "", true),
		dev("046d", "c31c", "Logitech", "USB Keyboard", "", "", false),
		dev("05ac", "027e", "Apple Inc.", "Apple Internal Keyboard / Trackpad", "", "", false),
	})
	wantLoc := []uint32{0x14100000, 0x14110000, 0x14120000, 0x14400000}
	for i, r := range recs {
		if r.Location != wantLoc[i] {
			t.Errorf("device %d: location %#x, want %#x", i, r.Location, wantLoc[i])
		}
	}

	recs, buses, err = decodeSPUSB(readTestdata(t, "sp-usb-empty.json"))
	if err != nil || buses != 0 || len(recs) != 0 {
		t.Errorf("macOS 26 answer: got %v, %d buses, %v; want nothing", recs, buses, err)
	}
	if _, _, err := decodeSPUSB([]byte("{")); err == nil {
		t.Error("no error for broken JSON")
	}
}

func TestDecodeSPUSBHost(t *testing.T) {
	recs, buses, err := decodeSPUSBHost(readTestdata(t, "sp-usbhost.json"))
	if err != nil {
		t.Fatal(err)
	}
	if buses != 2 {
		t.Errorf("buses = %d, want 2", buses)
	}
	equalDevices(t, usbDevices(recs), []*agentv1.UsbDevice{
		dev("0781", "55fd", "USB", "SanDisk 3.2 Gen1", "03017022120225210315", "", false),
		dev("1a86", "7523", "", "USB Serial", "", "", false),
	})
	if recs[0].Location != 0x01100000 || recs[1].Location != 0x01200000 {
		t.Errorf("locations %#x %#x", recs[0].Location, recs[1].Location)
	}
}

func TestParseSPID(t *testing.T) {
	for _, tc := range []struct {
		in, id, name string
		ok           bool
	}{
		{"0x0781  (SanDisk Corporation)", "0781", "SanDisk Corporation", true},
		{"0x5567", "5567", "", true},
		{"0xC31C", "c31c", "", true},
		{"apple_vendor_id", "05ac", "Apple Inc.", true},
		{"0x12345", "", "", false},
		{"", "", "", false},
	} {
		id, name, ok := parseSPID(tc.in)
		if id != tc.id || name != tc.name || ok != tc.ok {
			t.Errorf("parseSPID(%q) = %q, %q, %v; want %q, %q, %v", tc.in, id, name, ok, tc.id, tc.name, tc.ok)
		}
	}
	if got := parseSPLocation("0x14100000 / 8"); got != 0x14100000 {
		t.Errorf("location = %#x", got)
	}
}

func TestDecodeIORegUSB(t *testing.T) {
	t.Run("IOUSBPlane", func(t *testing.T) {
		recs := decodeIORegUSB(string(readTestdata(t, "ioreg-iousb.txt")))
		equalDevices(t, usbDevices(recs), []*agentv1.UsbDevice{
			// A class-0 device without its interfaces has no known class.
			dev("0781", "5567", "SanDisk", "Cruzer Blade", "4C530001230517117432", "", false),
			dev("05e3", "0610", "GenesysLogic", "USB2.0 Hub", "", "hub", false),
		})
		if recs[0].Location != 0x00100000 || recs[1].Location != 0x00200000 {
			t.Errorf("locations %#x %#x", recs[0].Location, recs[1].Location)
		}
	})
	t.Run("Detail", func(t *testing.T) {
		recs := decodeIORegUSB(string(readTestdata(t, "ioreg-detail.txt")))
		equalDevices(t, usbDevices(recs), []*agentv1.UsbDevice{
			dev("05e3", "0610", "GenesysLogic", "USB2.0 Hub", "", "hub", false),
			dev("0781", "5567", "SanDisk", "Cruzer Blade", "4C530001230517117432", "mass_storage", true),
			dev("046d", "c31c", "Logitech", "USB Keyboard", "", "hid", false),
			dev("05ac", "027e", "Apple Inc.", "Apple Internal Keyboard / Trackpad", "D3H84930MX1J1V4A", "hid", false),
		})
		wantIfaces := [][]int{{9}, {8}, {3, 3}, {3, 3, 255}}
		for i, r := range recs {
			if !reflect.DeepEqual(r.Interfaces, wantIfaces[i]) {
				t.Errorf("device %d: interfaces %v, want %v", i, r.Interfaces, wantIfaces[i])
			}
		}
	})
	t.Run("InterfaceAfterNestedDevice", func(t *testing.T) {
		// The hub's interface is listed after a device below the hub: it is the hub's.
		in := "+-o Hub@01000000  <class IOUSBHostDevice, id 0x1>\n" +
			"  | {\n  |   \"idVendor\" = 1507\n  |   \"idProduct\" = 1552\n  |   \"bDeviceClass\" = 0\n  | }\n" +
			"  +-o Stick@01100000  <class IOUSBHostDevice, id 0x2>\n" +
			"  |   {\n  |     \"idVendor\" = 1921\n  |     \"idProduct\" = 21863\n  |     \"bDeviceClass\" = 0\n  |   }\n" +
			"  +-o IOUSBHostInterface@0  <class IOUSBHostInterface, id 0x3>\n" +
			"      {\n        \"bInterfaceNumber\" = 0\n        \"bInterfaceClass\" = 9\n      }\n"
		recs := decodeIORegUSB(in)
		if len(recs) != 2 || !reflect.DeepEqual(recs[0].Interfaces, []int{9}) || recs[1].Interfaces != nil {
			t.Errorf("got %+v, want the interface on the hub", recs)
		}
	})
	t.Run("MassStorageDriverOnly", func(t *testing.T) {
		in := "+-o Reader@00100000  <class IOUSBHostDevice, id 0x1>\n" +
			"    {\n      \"idVendor\" = 1234\n      \"idProduct\" = 5678\n      \"bDeviceClass\" = 0\n    }\n" +
			"  +-o IOUSBMassStorageUASDriver  <class IOUSBMassStorageUASDriver, id 0x2>\n"
		recs := decodeIORegUSB(in)
		if len(recs) != 1 || !recs[0].device().MassStorage || recs[0].device().Class != "" {
			t.Errorf("got %+v, want one mass-storage device without a class", recs)
		}
	})
}

func TestUSBClass(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rec   usbRecord
		class string
		mass  bool
	}{
		{"OwnClass", usbRecord{DeviceClass: 9, Interfaces: []int{9}}, "hub", false},
		{"FromInterface", usbRecord{DeviceClass: 0, Interfaces: []int{3, 8}}, "hid", true},
		{"IADFromInterface", usbRecord{DeviceClass: 0xef, Interfaces: []int{0x0e, 0x0e, 0x01}}, "video", false},
		{"MassStorageClass", usbRecord{DeviceClass: 8}, "mass_storage", true},
		{"Unknown", usbRecord{DeviceClass: -1}, "", false},
		{"UnlistedCode", usbRecord{DeviceClass: 0x06}, "other", false},
		{"VendorSpecific", usbRecord{DeviceClass: 0xff}, "vendor_specific", false},
		{"Media", usbRecord{DeviceClass: -1, MassStorage: true}, "", true},
	} {
		d := tc.rec.device()
		if d.Class != tc.class || d.MassStorage != tc.mass {
			t.Errorf("%s: class %q mass %v, want %q %v", tc.name, d.Class, d.MassStorage, tc.class, tc.mass)
		}
	}
}

func TestMergeUSB(t *testing.T) {
	primary, _, err := decodeSPUSB(readTestdata(t, "sp-usb.json"))
	if err != nil {
		t.Fatal(err)
	}
	detail := decodeIORegUSB(string(readTestdata(t, "ioreg-detail.txt")))
	equalDevices(t, usbDevices(mergeUSB(primary, detail)), []*agentv1.UsbDevice{
		dev("05e3", "0610", "GenesysLogic", "USB2.0 Hub", "", "hub", false),
		dev("0781", "5567", "SanDisk", "Cruzer Blade", "4C530001230517117432", "mass_storage", true),
		dev("046d", "c31c", "Logitech", "USB Keyboard", "", "hid", false),
		// The serial comes from ioreg: system_profiler did not list it.
		dev("05ac", "027e", "Apple Inc.", "Apple Internal Keyboard / Trackpad", "D3H84930MX1J1V4A", "hid", false),
	})
	// Without ioreg the report stands as it is.
	equalDevices(t, usbDevices(mergeUSB(primary, nil)), usbDevices(primary))
	// A different device at the same place is not taken for the listed one.
	other := []usbRecord{{Location: 0x14110000, VendorID: "0951", ProductID: "1666", DeviceClass: 0, Interfaces: []int{3}}}
	if d := mergeUSB(primary, other)[1].device(); d.Class != "" {
		t.Errorf("class %q taken from another device", d.Class)
	}
}

func TestUSBWatch(t *testing.T) {
	stick := usbRecord{Location: 0x00100000, VendorID: "0781", ProductID: "5567", Serial: "4C53", DeviceClass: 0}
	stickDetail := stick
	stickDetail.Interfaces = []int{8}
	hub := usbRecord{Location: 0x00200000, VendorID: "05e3", ProductID: "0610", DeviceClass: 9}
	hubDetail := hub
	hubDetail.Interfaces = []int{9}

	calls := 0
	detail := func(recs ...usbRecord) func() ([]usbRecord, error) {
		return func() ([]usbRecord, error) { calls++; return recs, nil }
	}
	types := func(cs []usbChange) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Type+" "+c.Record.VendorID)
		}
		return strings.Join(s, ", ")
	}

	w := newUSBWatch([]usbRecord{hubDetail}, 1)

	// Nothing changed: nothing reported and no detailed listing.
	if got := w.next([]usbRecord{hub}, detail(hubDetail)); len(got) != 0 || calls != 0 {
		t.Fatalf("no change: got %q, %d detail calls", types(got), calls)
	}

	// The stick arrives with its interfaces listed: reported at once, as mass storage.
	got := w.next([]usbRecord{hub, stick}, detail(hubDetail, stickDetail))
	if types(got) != "usb.inserted 0781" || calls != 1 {
		t.Fatalf("insert: got %q, %d detail calls", types(got), calls)
	}
	if d := got[0].Record.device(); !d.MassStorage || d.Class != "mass_storage" {
		t.Errorf("inserted stick: %v", d)
	}

	// It leaves: reported with what was known of it.
	got = w.next([]usbRecord{hub}, detail(hubDetail))
	if types(got) != "usb.removed 0781" || !got[0].Record.device().MassStorage {
		t.Fatalf("remove: got %q %v", types(got), got)
	}

	// It comes back before macOS has configured it: held back once, then reported.
	if got := w.next([]usbRecord{hub, stick}, detail(hubDetail, stick)); len(got) != 0 {
		t.Fatalf("unconfigured: got %q, want it held back", types(got))
	}
	got = w.next([]usbRecord{hub, stick}, detail(hubDetail, stickDetail))
	if types(got) != "usb.inserted 0781" || !got[0].Record.device().MassStorage {
		t.Fatalf("configured: got %q", types(got))
	}

	// A device that never shows interfaces is reported after one more read, as it is.
	odd := usbRecord{Location: 0x00300000, VendorID: "1234", ProductID: "0001", DeviceClass: 0xff}
	if got := w.next([]usbRecord{hub, stick, odd}, detail(hubDetail, stickDetail, odd)); len(got) != 0 {
		t.Fatalf("odd first read: got %q", types(got))
	}
	got = w.next([]usbRecord{hub, stick, odd}, detail(hubDetail, stickDetail, odd))
	if types(got) != "usb.inserted 1234" || got[0].Record.device().Class != "vendor_specific" {
		t.Fatalf("odd second read: got %q", types(got))
	}

	// A device held back and gone again is reported as both; a failed detailed listing holds
	// the device back as an unconfigured one.
	quick := usbRecord{Location: 0x00400000, VendorID: "abcd", ProductID: "0002", DeviceClass: 0}
	if got := w.next([]usbRecord{hub, stick, odd, quick}, func() ([]usbRecord, error) { return nil, errors.New("ioreg failed") }); len(got) != 0 {
		t.Fatalf("quick first read: got %q", types(got))
	}
	got = w.next([]usbRecord{hub}, detail(hubDetail))
	if types(got) != "usb.removed 0781, usb.removed 1234, usb.inserted abcd, usb.removed abcd" {
		t.Fatalf("quick gone: got %q", types(got))
	}
	if len(w.known) != 1 || len(w.waiting) != 0 {
		t.Errorf("left %d known, %d waiting; want 1 and 0", len(w.known), len(w.waiting))
	}
}

func TestIsConsoleUser(t *testing.T) {
	for _, tc := range []struct {
		uid  uint32
		name string
		want bool
	}{
		{501, "jsmith", true},
		{0, "root", false},
		{248, "_mbsetupuser", false},
		{1001, "", false},
	} {
		if got := isConsoleUser(tc.uid, tc.name); got != tc.want {
			t.Errorf("isConsoleUser(%d, %q) = %v, want %v", tc.uid, tc.name, got, tc.want)
		}
	}
}

func TestReasonText(t *testing.T) {
	if !permissionDenied("fdesetup: This tool needs to be run as root.\n") || permissionDenied("Error: no such volume") {
		t.Error("permissionDenied misjudges")
	}
	long := strings.Repeat("é", 150)
	if got := truncate(long); len(got) > maxReason+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("truncate cut badly: %q", got)
	}
	if got := firstLine("\n  \n second \nthird"); got != "second" {
		t.Errorf("firstLine = %q", got)
	}
}
