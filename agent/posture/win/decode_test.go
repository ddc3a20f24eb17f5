package win

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// readJSON decodes testdata/name into a value of type T.
func readJSON[T any](t *testing.T, name string) T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
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

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func u32(v uint32) *uint32 { return &v }

// ---------------------------------------------------------------------
// Antivirus

func TestDecodeProductState(t *testing.T) {
	tests := []struct {
		ps                    uint32
		state                 string
		enabled, upToDate, ms bool
	}{
		{397568, "on", true, true, true},       // 0x061100 Defender on, up to date
		{397584, "on", true, false, true},      // 0x061110 on, out of date
		{393472, "off", false, true, true},     // 0x060100 off
		{266240, "on", true, true, false},      // 0x041000 third party, on
		{401664, "snoozed", false, true, true}, // 0x062100 snoozed
		{274448, "expired", false, false, false},
		{0x064100, "", false, true, true}, // an undocumented state
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#x", tt.ps), func(t *testing.T) {
			got := decodeProductState(tt.ps)
			want := productState{State: tt.state, Enabled: tt.enabled, UpToDate: tt.upToDate, Microsoft: tt.ms}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseWSCTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"Thu, 23 May 2024 12:29:05 GMT", time.Date(2024, 5, 23, 12, 29, 5, 0, time.UTC), true},
		{"Tue, 4 Jun 2024 09:15:30 GMT", time.Date(2024, 6, 4, 9, 15, 30, 0, time.UTC), true},
		{"Tue, 04 Jun 2024 11:15:30 +0200", time.Date(2024, 6, 4, 9, 15, 30, 0, time.UTC), true},
		{"", time.Time{}, false},
		{"2024-06-04T09:15:30Z", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseWSCTime(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("parseWSCTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSecurityCenterProducts(t *testing.T) {
	rows := readJSON[[]securityCenterProduct](t, "securitycenter.json")
	got := securityCenterProducts(rows)
	want := []*agentv1.AntivirusProduct{
		{Name: "Windows Defender", Source: "security_center", Enabled: true, UpToDate: true, State: "on", SignatureUpdated: ts("2024-05-23T12:29:05Z")},
		{Name: "Windows Defender", Source: "security_center", Enabled: true, UpToDate: false, State: "on", SignatureUpdated: ts("2024-06-03T08:01:44Z")},
		{Name: "Windows Defender", Source: "security_center", Enabled: false, UpToDate: true, State: "off", SignatureUpdated: ts("2024-06-07T16:45:00Z")},
		{Name: "Sophos Anti-Virus", Source: "security_center", Enabled: true, UpToDate: true, State: "on", SignatureUpdated: ts("2024-06-04T09:15:30Z")},
		{Name: "Windows Defender", Source: "security_center", Enabled: false, UpToDate: true, State: "snoozed"},
		{Name: "Norton Security", Source: "security_center", Enabled: false, UpToDate: false, State: "expired"},
	}
	equalProtos(t, "products", want, got)
	for _, p := range got {
		if p.RealTimeProtection != nil {
			t.Errorf("%s: real-time protection set to %v; Security Center does not say", p.Name, *p.RealTimeProtection)
		}
	}
}

func TestRunningMode(t *testing.T) {
	for in, want := range map[string]string{
		"Normal": "normal", "Passive Mode": "passive", "SxS Passive Mode": "sxs_passive",
		"EDR Block Mode": "edr_block", "": "", "Not running": "not_running",
	} {
		if got := runningMode(in); got != want {
			t.Errorf("runningMode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefenderProduct(t *testing.T) {
	tests := []struct {
		file string
		want *agentv1.AntivirusProduct
	}{
		{"defender_normal.json", &agentv1.AntivirusProduct{
			Name: defenderName, Source: "defender", Enabled: true, UpToDate: true,
			SignatureUpdated: ts("2024-06-03T07:12:40Z"), SignatureVersion: "1.411.433.0",
			RealTimeProtection: proto.Bool(true), State: "normal",
		}},
		{"defender_passive.json", &agentv1.AntivirusProduct{
			Name: defenderName, Source: "defender", Enabled: false, UpToDate: true,
			SignatureUpdated: ts("2024-06-01T22:03:11Z"), SignatureVersion: "1.411.401.0",
			RealTimeProtection: proto.Bool(false), State: "passive",
		}},
		{"defender_server.json", &agentv1.AntivirusProduct{
			Name: defenderName, Source: "defender", Enabled: true, UpToDate: false,
			SignatureUpdated: ts("2024-05-20T03:00:00Z"), SignatureVersion: "1.409.350.0",
			RealTimeProtection: proto.Bool(true), State: "normal",
		}},
		// A 2019 build: no AMRunningMode, no DefenderSignaturesOutOfDate;
		// signatures 12 days old are past Defender's default of 7.
		{"defender_old.json", &agentv1.AntivirusProduct{
			Name: defenderName, Source: "defender", Enabled: true, UpToDate: false,
			SignatureUpdated: ts("2019-03-01T10:00:00Z"), SignatureVersion: "1.289.1201.0",
			RealTimeProtection: proto.Bool(true),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rows := readJSON[[]defenderStatus](t, tt.file)
			if len(rows) != 1 {
				t.Fatalf("%d rows", len(rows))
			}
			if got := defenderProduct(rows[0]); !proto.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDefenderProduct_Unsaid(t *testing.T) {
	// A row with nothing set says nothing: not enabled, and real-time
	// protection left unset rather than false.
	got := defenderProduct(defenderStatus{})
	want := &agentv1.AntivirusProduct{Name: defenderName, Source: "defender"}
	if !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// A build without DefenderSignaturesOutOfDate: signatures three days
	// old are within Defender's default of seven.
	got = defenderProduct(defenderStatus{AntivirusEnabled: new(true), AntivirusSignatureAge: u32(3)})
	if !got.UpToDate {
		t.Error("signatures 3 days old not up to date")
	}
	// The service stopped: not enabled even though the antivirus is.
	got = defenderProduct(defenderStatus{AntivirusEnabled: new(true), AMServiceEnabled: new(false)})
	if got.Enabled {
		t.Error("enabled with the service stopped")
	}
}

func TestDecodeAntivirus(t *testing.T) {
	sc := readJSON[[]securityCenterProduct](t, "securitycenter.json")[:1]
	def := readJSON[[]defenderStatus](t, "defender_normal.json")
	server := readJSON[[]defenderStatus](t, "defender_server.json")
	missingNS := &codeError{"query AntiVirusProduct", 0x8004100E}
	missingClass := &codeError{"query MSFT_MpComputerStatus", 0x80041010}
	denied := &codeError{"query MSFT_MpComputerStatus", 0x80041003}
	notRunning := &codeError{"query MSFT_MpComputerStatus", 0x800106BA}

	tests := []struct {
		name        string
		raw         antivirusRaw
		wantReason  string
		wantSources []string
	}{
		{"client", antivirusRaw{SecurityCenter: sc, Defender: def}, "", []string{"security_center", "defender"}},
		{"server without Security Center", antivirusRaw{SecurityCenterErr: missingNS, Defender: server}, "", []string{"defender"}},
		{"no Defender class", antivirusRaw{SecurityCenter: sc, DefenderErr: missingClass}, "", []string{"security_center"}},
		{"no antivirus at all", antivirusRaw{}, "", nil},
		{"server without Defender", antivirusRaw{SecurityCenterErr: missingNS, DefenderErr: missingClass}, reasonNoAVClasses, nil},
		{"server, Defender stopped", antivirusRaw{SecurityCenterErr: missingNS, DefenderErr: notRunning},
			"class missing: Security Center is not available on Windows Server, and the Defender service is not running", nil},
		{"denied", antivirusRaw{SecurityCenterErr: missingNS, DefenderErr: denied}, reasonNoPermission, nil},
		{"timed out", antivirusRaw{SecurityCenterErr: context.DeadlineExceeded, DefenderErr: fmt.Errorf("wrapped: %w", context.DeadlineExceeded)}, reasonTimedOut, nil},
		{"other", antivirusRaw{SecurityCenterErr: &codeError{"q", 0x80041001}, DefenderErr: &codeError{"q", 0x80041001}}, "Security Center: error 0x80041001", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAntivirus(tt.raw)
			if got.UnknownReason != tt.wantReason {
				t.Errorf("reason %q, want %q", got.UnknownReason, tt.wantReason)
			}
			var sources []string
			for _, p := range got.Products {
				sources = append(sources, p.Source)
			}
			if strings.Join(sources, ",") != strings.Join(tt.wantSources, ",") {
				t.Errorf("sources %v, want %v", sources, tt.wantSources)
			}
			if got.UnknownReason != "" && len(got.Products) > 0 {
				t.Error("unknown and products both set")
			}
		})
	}
}

// ---------------------------------------------------------------------
// BitLocker

func TestDecodeEncryption(t *testing.T) {
	tests := []struct {
		file     string
		wantVols []*agentv1.Volume
		wantKeys []*agentv1.RecoveryKey
	}{
		{"bitlocker_encrypted.json",
			[]*agentv1.Volume{
				{Name: "C:", MountPoint: `C:\`, OsVolume: true, State: "encrypted", Protection: "on", Conversion: "fully_encrypted",
					EncryptionPercent: 100, Method: "XTS-AES 128", KeyProtectors: []string{"tpm", "numerical_password"}},
				{Name: "D:", MountPoint: `D:\`, State: "encrypted", Protection: "on", Conversion: "fully_encrypted",
					EncryptionPercent: 100, Method: "XTS-AES 256", KeyProtectors: []string{"external_key", "numerical_password"}},
			},
			[]*agentv1.RecoveryKey{
				{Volume: "D:", ProtectorId: "{A0C4E2F1-7B3D-4C59-9E11-8F6D2B4A0C37}", NumericalPassword: "309540-054054-123915-625218-602910-100716-346984-130779"},
				{Volume: "C:", ProtectorId: "{C8D21F0B-6E5A-47A3-B1C9-3F40E7D92A61}", NumericalPassword: "466895-217492-569250-069608-104434-135707-527241-083622"},
			}},
		// No VolumeType (Windows 7): the OS volume is found by %SystemDrive%.
		{"bitlocker_suspended.json",
			[]*agentv1.Volume{
				{Name: "C:", MountPoint: `C:\`, OsVolume: true, State: "suspended", Protection: "off", Conversion: "fully_encrypted",
					EncryptionPercent: 100, Method: "XTS-AES 128", KeyProtectors: []string{"tpm", "numerical_password"}},
			},
			[]*agentv1.RecoveryKey{
				{Volume: "C:", ProtectorId: "{C8D21F0B-6E5A-47A3-B1C9-3F40E7D92A61}", NumericalPassword: "612062-085217-178486-321860-089188-571923-071489-318747"},
			}},
		// The second numerical password is malformed and is not escrowed.
		{"bitlocker_encrypting.json",
			[]*agentv1.Volume{
				{Name: "C:", MountPoint: `C:\`, OsVolume: true, State: "encrypting", Protection: "off", Conversion: "encryption_in_progress",
					EncryptionPercent: 42.5, Method: "XTS-AES 128", KeyProtectors: []string{"tpm_pin", "numerical_password"}},
			},
			[]*agentv1.RecoveryKey{
				{Volume: "C:", ProtectorId: "{1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9}", NumericalPassword: "067155-192005-417549-604307-207977-169829-444763-260568"},
			}},
		// %SystemDrive% not known: VolumeType alone marks the OS volume.
		{"bitlocker_decrypting.json",
			[]*agentv1.Volume{
				{Name: "C:", MountPoint: `C:\`, OsVolume: true, State: "decrypting", Protection: "off", Conversion: "decryption_in_progress",
					EncryptionPercent: 87, Method: "AES 256", KeyProtectors: []string{"tpm"}},
			},
			nil},
		{"bitlocker_not_encrypted.json",
			[]*agentv1.Volume{
				{Name: "C:", MountPoint: `C:\`, OsVolume: true, State: "not_encrypted", Protection: "off", Conversion: "fully_decrypted", Method: "None"},
				{Name: `\\?\Volume{5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716}\`, State: "not_encrypted", Protection: "off", Conversion: "fully_decrypted", Method: "None"},
			},
			nil},
		// E: is locked: its status is unknown and its recovery password
		// could not be read. F: is paused with one protector of unknown
		// type. C:'s methods all failed.
		{"bitlocker_locked.json",
			[]*agentv1.Volume{
				{Name: "C:", MountPoint: `C:\`, OsVolume: true, State: "unknown"},
				{Name: "E:", MountPoint: `E:\`, State: "unknown", Protection: "unknown", KeyProtectors: []string{"passphrase", "numerical_password"}},
				{Name: "F:", MountPoint: `F:\`, State: "paused", Protection: "off", Conversion: "encryption_paused",
					EncryptionPercent: 61.3, Method: "XTS-AES 256", KeyProtectors: []string{"sid"}},
			},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := decodeEncryption(readJSON[encryptionRaw](t, tt.file))
			if got.UnknownReason != "" {
				t.Errorf("unknown: %s", got.UnknownReason)
			}
			equalProtos(t, "volumes", tt.wantVols, got.Volumes)
			equalProtos(t, "recovery keys", tt.wantKeys, got.RecoveryKeys)
		})
	}
}

func TestVolumeState(t *testing.T) {
	tests := []struct {
		prot, conv, lock *uint32
		want             string
	}{
		{u32(1), u32(1), nil, "encrypted"},
		{u32(0), u32(1), nil, "suspended"},
		{u32(2), u32(1), nil, "unknown"},
		{nil, u32(1), nil, "unknown"},
		{u32(0), u32(2), nil, "encrypting"},
		{u32(0), u32(3), nil, "decrypting"},
		{u32(0), u32(4), nil, "paused"},
		{u32(0), u32(5), nil, "paused"},
		{u32(0), u32(0), nil, "not_encrypted"},
		{u32(1), u32(1), u32(1), "unknown"},
		{u32(1), u32(1), u32(0), "encrypted"},
		{u32(0), u32(9), nil, "unknown"},
		{u32(0), nil, nil, "unknown"},
	}
	for _, tt := range tests {
		got := volumeState(bitlockerVolume{Protection: tt.prot, Conversion: tt.conv, LockStatus: tt.lock})
		if got != tt.want {
			t.Errorf("prot %v conv %v lock %v: %q, want %q", deref(tt.prot), deref(tt.conv), deref(tt.lock), got, tt.want)
		}
	}
}

func deref(p *uint32) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestNormalizeRecoveryPassword(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"466895-217492-569250-069608-104434-135707-527241-083622", "466895-217492-569250-069608-104434-135707-527241-083622", true},
		{" 466895-217492-569250-069608-104434-135707-527241-083622\r\n", "466895-217492-569250-069608-104434-135707-527241-083622", true},
		{"123456-123456-123456-123456-123456-123456-123456-123456", "", false}, // not multiples of 11
		{"466895-217492-569250-069608-104434-135707-527241", "", false},        // seven groups
		{"466895-217492-569250-069608-104434-135707-527241-08362", "", false},  // short group
		{"466895-217492-569250-069608-104434-135707-527241-72x919", "", false},
		{"720896-000000-000000-000000-000000-000000-000000-000000", "", false}, // 720896/11 > 65535
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeRecoveryPassword(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeRecoveryPassword(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSecretIsNotPrinted(t *testing.T) {
	p := bitlockerProtector{ID: "{X}", Type: u32(3), NumericalPassword: "466895-217492-569250-069608-104434-135707-527241-083622"}
	v := bitlockerVolume{DriveLetter: "C:", Protectors: []bitlockerProtector{p}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, v); strings.Contains(out, "466895") {
			t.Errorf("%s printed the recovery password: %s", format, out)
		}
	}
}

func TestEncryptionReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&codeError{"query Win32_EncryptableVolume", 0x80041003}, reasonBitLockerPerm},
		{&codeError{"connect", 0x80070005}, reasonBitLockerPerm},
		{&codeError{"connect", 0x8004100E}, reasonNoBitLocker},
		{&codeError{"query", 0x80041010}, reasonNoBitLocker},
		{context.DeadlineExceeded, reasonTimedOut},
		{&codeError{"query", 0x80041001}, "BitLocker: error 0x80041001"},
		{errors.New("connect: no service object"), "BitLocker: connect: no service object"},
	}
	for _, tt := range tests {
		if got := encryptionReason(tt.err); got != tt.want {
			t.Errorf("encryptionReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// ---------------------------------------------------------------------
// Screen lock

func setting(name, value, source string) *agentv1.ScreenLockSetting {
	return &agentv1.ScreenLockSetting{Name: name, Value: value, Source: source}
}

func TestDecodeScreenLock(t *testing.T) {
	tests := []struct {
		file       string
		wantIdle   int64
		wantPw     bool
		wantUser   string
		wantHas    []*agentv1.ScreenLockSetting
		wantCount  int
		wantAbsent []string
	}{
		// The policy copy makes the screen saver secure after 300 s; the
		// user's own 1200 s and not-secure are overridden.
		{"screenlock_policy_beats_user.json", 300, true, `SCHOOL\jbloggs`,
			[]*agentv1.ScreenLockSetting{
				setting("ScreenSaveTimeOut", "1200", "user"), setting("ScreenSaveTimeOut", "300", "policy"),
				setting("ScreenSaverIsSecure", "0", "user"), setting("ScreenSaverIsSecure", "1", "policy"),
				setting("SCRNSAVE.EXE", `C:\Windows\system32\scrnsave.scr`, "user"),
				setting("CONSOLELOCK (AC)", "1", "machine"), setting("STANDBYIDLE (DC)", "900", "machine"),
			}, 13, []string{"InactivityTimeoutSecs"}},
		// A screen saver without a password does not lock, and sign-in on
		// wake is off, so nothing locks.
		{"screenlock_not_secure.json", 0, false, `SCHOOL\asmith`,
			[]*agentv1.ScreenLockSetting{setting("ScreenSaverIsSecure", "0", "user"), setting("CONSOLELOCK (DC)", "0", "machine")},
			10, nil},
		// "(none)": no screen saver. On AC the machine never sleeps; on
		// battery it sleeps after 900 s and asks for sign-in: the
		// stricter, 900, is reported.
		{"screenlock_no_screensaver.json", 900, true, `LAPTOP-7Q2\pupil`,
			[]*agentv1.ScreenLockSetting{setting("SCRNSAVE.EXE", "(none)", "user"), setting("STANDBYIDLE (AC)", "0", "machine")},
			10, nil},
		{"screenlock_inactivity_only.json", 900, true, "",
			[]*agentv1.ScreenLockSetting{setting("InactivityTimeoutSecs", "900", "policy")},
			1, nil},
		// The screen saver is secure but not active; sleep with sign-in
		// locks after 1800 s on AC and 600 s on battery.
		{"screenlock_consolelock_acdc.json", 600, true, `SCHOOL\teacher1`,
			[]*agentv1.ScreenLockSetting{setting("STANDBYIDLE (AC)", "1800", "machine"), setting("STANDBYIDLE (DC)", "600", "machine"), setting("ScreenSaveActive", "0", "user")},
			10, nil},
		// Group Policy turns sign-in on wake on and sets the AC sleep
		// timeout the scheme leaves at never. A screen saver timeout of 0
		// does not lock.
		{"screenlock_power_policy.json", 1200, true, `SCHOOL\teacher2`,
			[]*agentv1.ScreenLockSetting{
				setting("InactivityTimeoutSecs", "0", "policy"),
				setting("CONSOLELOCK (AC)", "0", "machine"), setting("CONSOLELOCK (AC)", "1", "policy"),
				setting("STANDBYIDLE (AC)", "1200", "policy"),
			}, 14, nil},
		// Nobody at the console: machine values only. Sleep is never
		// automatic, but waking asks for sign-in.
		{"screenlock_nobody.json", 0, true, "",
			[]*agentv1.ScreenLockSetting{setting("CONSOLELOCK (AC)", "1", "machine")},
			6, []string{"ScreenSaveActive"}},
		// On AC sign-in on wake is on but the machine never sleeps; on
		// battery it sleeps after 300 s without sign-in. Neither locks on
		// its own; a password is asked on waking on AC.
		{"screenlock_ac_never.json", 0, true, `SCHOOL\office`, nil, 6, nil},
		// A desktop on mains: sleep with sign-in after 600 s on AC is
		// stricter than the battery values, which never lock.
		{"screenlock_desktop_ac.json", 600, true, `SCHOOL\library`,
			[]*agentv1.ScreenLockSetting{setting("STANDBYIDLE (AC)", "600", "machine"), setting("CONSOLELOCK (DC)", "0", "machine")},
			6, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := decodeScreenLock(readJSON[screenLockRaw](t, tt.file))
			if got.UnknownReason != "" {
				t.Fatalf("unknown: %s", got.UnknownReason)
			}
			if got.IdleLockSeconds != tt.wantIdle || got.PasswordOnWake != tt.wantPw || got.User != tt.wantUser {
				t.Errorf("got idle %d, password %v, user %q; want %d, %v, %q",
					got.IdleLockSeconds, got.PasswordOnWake, got.User, tt.wantIdle, tt.wantPw, tt.wantUser)
			}
			if len(got.Settings) != tt.wantCount {
				t.Errorf("%d settings, want %d: %v", len(got.Settings), tt.wantCount, got.Settings)
			}
			for _, w := range tt.wantHas {
				found := false
				for _, s := range got.Settings {
					found = found || proto.Equal(s, w)
				}
				if !found {
					t.Errorf("setting %v missing from %v", w, got.Settings)
				}
			}
			for _, name := range tt.wantAbsent {
				for _, s := range got.Settings {
					if s.Name == name {
						t.Errorf("setting %v listed, but it was not read", s)
					}
				}
			}
		})
	}
}

func TestDecodeScreenLock_NobodyIgnoresDesktop(t *testing.T) {
	// Desktop values without a user (as from a hive left loaded) are not
	// the console user's: they neither lock nor appear in settings.
	r := readJSON[screenLockRaw](t, "screenlock_policy_beats_user.json")
	r.User = ""
	r.ConsoleLock = powerSetting{}
	got := decodeScreenLock(r)
	if got.IdleLockSeconds != 0 || got.PasswordOnWake {
		t.Errorf("idle %d, password %v; want 0, false", got.IdleLockSeconds, got.PasswordOnWake)
	}
	for _, s := range got.Settings {
		if s.Source == "user" || strings.HasPrefix(s.Name, "ScreenSave") {
			t.Errorf("setting %v listed with nobody at the console", s)
		}
	}
}

func TestDecodeScreenLock_SettingsOrder(t *testing.T) {
	got := decodeScreenLock(readJSON[screenLockRaw](t, "screenlock_power_policy.json"))
	want := []*agentv1.ScreenLockSetting{
		setting("InactivityTimeoutSecs", "0", "policy"),
		setting("CONSOLELOCK (AC)", "0", "machine"), setting("CONSOLELOCK (DC)", "0", "machine"),
		setting("CONSOLELOCK (AC)", "1", "policy"), setting("CONSOLELOCK (DC)", "1", "policy"),
		setting("VIDEOIDLE (AC)", "600", "machine"), setting("VIDEOIDLE (DC)", "300", "machine"),
		setting("STANDBYIDLE (AC)", "0", "machine"), setting("STANDBYIDLE (DC)", "1200", "machine"),
		setting("STANDBYIDLE (AC)", "1200", "policy"),
		setting("ScreenSaveActive", "1", "user"), setting("ScreenSaveTimeOut", "0", "user"),
		setting("ScreenSaverIsSecure", "1", "user"), setting("SCRNSAVE.EXE", `C:\Windows\system32\Bubbles.scr`, "user"),
	}
	equalProtos(t, "settings", want, got.Settings)
}

func TestDecodeScreenLock_Failures(t *testing.T) {
	raw := readJSON[screenLockRaw](t, "screenlock_policy_beats_user.json")
	tests := []struct {
		name string
		set  func(r *screenLockRaw)
		want string
	}{
		{"power", func(r *screenLockRaw) { r.PowerErr = &codeError{"PowerGetActiveScheme", 0x57} }, "screen lock: error 0x00000057"},
		{"machine denied", func(r *screenLockRaw) { r.MachineErr = &codeError{"open", 5} }, reasonNoPermission},
		{"user denied", func(r *screenLockRaw) { r.UserErr = &codeError{"open user key", 5} }, reasonNoPermission},
		{"timed out", func(r *screenLockRaw) { r.PowerErr = context.DeadlineExceeded }, reasonTimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := raw
			tt.set(&r)
			got := decodeScreenLock(r)
			want := &agentv1.ScreenLock{UnknownReason: tt.want}
			if !proto.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestPickUserHive(t *testing.T) {
	hives := []string{
		".DEFAULT", "S-1-5-18", "S-1-5-19", "S-1-5-20",
		"S-1-5-21-1004336348-1177238915-682003330-1002", "S-1-5-21-1004336348-1177238915-682003330-1002_Classes",
		"S-1-5-21-1004336348-1177238915-682003330-1001", "S-1-5-21-1004336348-1177238915-682003330-1001_Classes",
	}
	tests := []struct {
		hives []string
		last  string
		want  string
	}{
		{hives, "S-1-5-21-1004336348-1177238915-682003330-1002", "S-1-5-21-1004336348-1177238915-682003330-1002"},
		{hives, "", "S-1-5-21-1004336348-1177238915-682003330-1001"},
		{hives, "S-1-5-21-9-9-9-500", "S-1-5-21-1004336348-1177238915-682003330-1001"}, // last user's hive not loaded
		{hives[:4], "", ""},
		{[]string{"S-1-5-21-1004336348-1177238915-682003330-1001_Classes"}, "", ""}, // a _Classes hive alone is not a user's
		{nil, "", ""},
	}
	for _, tt := range tests {
		if got := pickUserHive(tt.hives, tt.last); got != tt.want {
			t.Errorf("pickUserHive(%d hives, %q) = %q, want %q", len(tt.hives), tt.last, got, tt.want)
		}
	}
}

// ---------------------------------------------------------------------
// USB

func TestParseUSBInstanceID(t *testing.T) {
	tests := []struct {
		id   string
		want usbID
		ok   bool
	}{
		{`USB\VID_0781&PID_5567\4C530001230817117174`, usbID{"0781", "5567", -1, "4C530001230817117174"}, true},
		{`USB\VID_046D&PID_C52B\5&2c8f4d1a&0&3`, usbID{"046d", "c52b", -1, ""}, true}, // no serial: Windows made one up
		{`usb\vid_046d&pid_c52b\5&2c8f4d1a&0&3`, usbID{"046d", "c52b", -1, ""}, true},
		{`USB\VID_046D&PID_C52B&MI_01\7&2a3d1e3&0&0001`, usbID{"046d", "c52b", 1, ""}, true},
		{`USB\VID_04F2&PID_B6DD&MI_0A\6&2f3a4b5c&0&000A`, usbID{"04f2", "b6dd", 10, ""}, true},
		{`USB\VID_8087&PID_0026\1a&2b3c4d5e&0&14`, usbID{"8087", "0026", -1, ""}, true}, // deep hub tree
		{`USB\VID_04F2&PID_B6DD\0001`, usbID{"04f2", "b6dd", -1, "0001"}, true},
		{`USB\VID_0BDA&PID_8153\000001000000`, usbID{"0bda", "8153", -1, "000001000000"}, true},
		{`USB\ROOT_HUB30\4&1b2c3d4e&0&0`, usbID{}, false},
		{`USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00\4C530001230817117174&0`, usbID{}, false},
		{`HID\VID_046D&PID_C52B&MI_00\7&1a2b&0&0000`, usbID{}, false},
		{`USB\VID_78&PID_5567\X`, usbID{}, false},
		{`USB\VID_0781&PID_5567`, usbID{}, false},
	}
	for _, tt := range tests {
		got, ok := parseUSBInstanceID(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUSBInstanceID(%q) = %+v, %v; want %+v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseUSBSTORInstanceID(t *testing.T) {
	tests := []struct {
		id   string
		want usbstorID
		ok   bool
	}{
		{`USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00\4C530001230817117174&0`, usbstorID{"SanDisk", "Cruzer Blade", "1.00", "4C530001230817117174"}, true},
		{`USBSTOR\Disk&Ven_Kingston&Prod_DataTraveler_3.0&Rev_PMAP\E0D55EA574C1F4B0A9190D2E&0`, usbstorID{"Kingston", "DataTraveler 3.0", "PMAP", "E0D55EA574C1F4B0A9190D2E"}, true},
		{`USBSTOR\CdRom&Ven_HL-DT-ST&Prod_DVDRAM_GP57EB40&Rev_PR102\KZ2D5A84937&1`, usbstorID{"HL-DT-ST", "DVDRAM GP57EB40", "PR102", "KZ2D5A84937"}, true},
		{`USBSTOR\Disk&Ven_Generic&Prod_Flash_Disk&Rev_8.07\7&2a1b3c4d&0&0`, usbstorID{"Generic", "Flash Disk", "8.07", ""}, true},
		{`USB\VID_0781&PID_5567\4C530001230817117174`, usbstorID{}, false},
	}
	for _, tt := range tests {
		got, ok := parseUSBSTORInstanceID(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUSBSTORInstanceID(%q) = %+v, %v; want %+v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestInstanceIDFromSymbolicLink(t *testing.T) {
	tests := []struct {
		link, want string
		ok         bool
	}{
		{`\\?\USB#VID_0781&PID_5567#4C530001230817117174#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`, `USB\VID_0781&PID_5567\4C530001230817117174`, true},
		{`\\?\usb#vid_046d&pid_c52b#5&2c8f4d1a&0&3#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`, `usb\vid_046d&pid_c52b\5&2c8f4d1a&0&3`, true},
		{`\??\USB#VID_05E3&PID_0610#6&3a1b2c3d&0&4#{f18a0e88-c30c-11d0-8815-00a0c906bed8}`, `USB\VID_05E3&PID_0610\6&3a1b2c3d&0&4`, true},
		{`USB#VID_0781&PID_5567#4C530001230817117174`, `USB\VID_0781&PID_5567\4C530001230817117174`, true},
		{`\\?\USB#VID_0781&PID_5567#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`, "", false},
		{`\\?\USB##4C53#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		got, ok := instanceIDFromSymbolicLink(tt.link)
		if got != tt.want || ok != tt.ok {
			t.Errorf("instanceIDFromSymbolicLink(%q) = %q, %v; want %q, %v", tt.link, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClassFromCompatibleIDs(t *testing.T) {
	tests := []struct {
		ids             []string
		code            int
		known, deferred bool
	}{
		{[]string{`USB\Class_08&SubClass_06&Prot_50`, `USB\Class_08&SubClass_06`, `USB\Class_08`}, 0x08, true, false},
		{[]string{`USB\Class_09&SubClass_00&Prot_02`}, 0x09, true, false},
		{[]string{`USB\DevClass_00&SubClass_00&Prot_00`, `USB\DevClass_00`, `USB\COMPOSITE`}, 0, true, true},
		{[]string{`USB\DevClass_EF&SubClass_02&Prot_01`, `USB\DevClass_EF`, `USB\COMPOSITE`}, 0xef, true, true},
		{[]string{`USB\DevClass_00&SubClass_00&Prot_00`}, 0, true, true}, // class 0 without COMPOSITE still defers
		{[]string{`usb\class_e0&subclass_01&prot_01`}, 0xe0, true, false},
		{[]string{`USBSTOR\Disk`, `GenDisk`}, 0, false, false},
		{nil, 0, false, false},
	}
	for _, tt := range tests {
		code, known, deferred := classFromCompatibleIDs(tt.ids)
		if code != tt.code || known != tt.known || deferred != tt.deferred {
			t.Errorf("classFromCompatibleIDs(%q) = %#x, %v, %v; want %#x, %v, %v", tt.ids, code, known, deferred, tt.code, tt.known, tt.deferred)
		}
	}
}

func TestUSBClassWord(t *testing.T) {
	for code, want := range map[int]string{
		0x01: "audio", 0x02: "comm", 0x03: "hid", 0x06: "other", 0x07: "printer", 0x08: "mass_storage",
		0x09: "hub", 0x0a: "comm", 0x0b: "smart_card", 0x0e: "video", 0x10: "video", 0xe0: "wireless",
		0xef: "other", 0xff: "vendor_specific",
	} {
		if got := usbClassWord(code); got != want {
			t.Errorf("usbClassWord(%#x) = %q, want %q", code, got, want)
		}
	}
}

func TestDecodeUSB_Present(t *testing.T) {
	got := usbDevices(decodeUSB(readJSON[[]pnpDevice](t, "usb_present.json")))
	want := []*agentv1.UsbDevice{
		{VendorId: "03f0", ProductId: "6c17", Product: "HP LaserJet Pro M404-M405", Serial: "CN12A3B4C5", Class: "printer"},
		{VendorId: "046d", ProductId: "c52b", Product: "USB Receiver", Class: "hid"},
		{VendorId: "04f2", ProductId: "b6dd", Product: "Integrated Camera", Serial: "0001", Class: "video"},
		{VendorId: "05e3", ProductId: "0610", Product: "USB2.1 Hub", Class: "hub"},
		{VendorId: "076b", ProductId: "3031", Vendor: "HID Global", Product: "OMNIKEY 3x21", Serial: "OKCM0071507221429270010148331510", Class: "smart_card"},
		{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230817117174", Class: "mass_storage", MassStorage: true},
		{VendorId: "0bda", ProductId: "8153", Vendor: "Realtek", Product: "USB 10/100/1000 LAN", Serial: "000001000000", Class: "vendor_specific"},
		{VendorId: "174c", ProductId: "55aa", Product: "ASM1153E", Serial: "MSFT30123456789012", Class: "mass_storage", MassStorage: true},
		{VendorId: "18d1", ProductId: "4ee2", Vendor: "Google", Product: "Pixel 7", Serial: "0A1B2C3D4E5F", Class: "other", MassStorage: true},
		{VendorId: "413c", ProductId: "2113", Product: "USB Input Device", Class: "hid"},
		{VendorId: "8087", ProductId: "0026", Vendor: "Intel Corporation", Product: "Intel(R) Wireless Bluetooth(R)", Class: "wireless"},
	}
	equalProtos(t, "devices", want, got)
}

func TestUSBHistory(t *testing.T) {
	got := usbHistory(decodeUSB(readJSON[[]pnpDevice](t, "usb_history.json")))
	want := []*agentv1.UsbEvent{
		{Device: &agentv1.UsbDevice{VendorId: "1a2c", ProductId: "2124", Product: "USB Input Device", Class: "hid"}},
		{Device: &agentv1.UsbDevice{VendorId: "0951", ProductId: "1666", Vendor: "Kingston", Product: "DataTraveler 3.0", Serial: "E0D55EA574C1F4B0A9190D2E", Class: "mass_storage", MassStorage: true},
			FirstSeen: ts("2023-09-04T07:00:00Z"), LastSeen: ts("2024-05-28T13:45:00Z")},
		{Device: &agentv1.UsbDevice{VendorId: "046d", ProductId: "c52b", Product: "USB Receiver", Class: "hid"},
			FirstSeen: ts("2023-09-01T12:00:00Z"), LastSeen: ts("2024-06-03T07:00:00Z")},
		{Device: &agentv1.UsbDevice{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230817117174", Class: "mass_storage", MassStorage: true},
			FirstSeen: ts("2024-01-15T08:30:00Z"), LastSeen: ts("2024-06-03T10:15:20Z")},
	}
	equalProtos(t, "events", want, got)
}

func TestDeviceForEvent(t *testing.T) {
	looked := readJSON[[]pnpDevice](t, "usb_present.json")
	tests := []struct {
		link string
		want *agentv1.UsbDevice
	}{
		// Known to SetupAPI, in the link's lower case.
		{`\\?\usb#vid_0781&pid_5567#4C530001230817117174#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`,
			&agentv1.UsbDevice{VendorId: "0781", ProductId: "5567", Vendor: "SanDisk", Product: "Cruzer Blade", Serial: "4C530001230817117174", Class: "mass_storage", MassStorage: true}},
		// Unknown: described by its IDs alone.
		{`\\?\USB#VID_0951&PID_1666#E0D55EA574C1F4B0A9190D2E#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`,
			&agentv1.UsbDevice{VendorId: "0951", ProductId: "1666", Serial: "E0D55EA574C1F4B0A9190D2E"}},
		{`\\?\USB#ROOT_HUB30#4&1b2c3d4e&0&0#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`, nil},
		{`\\?\USB#VID_046D&PID_C52B&MI_00#6&1a2b3c4d&0&0000#{a5dcbf10-6530-11d2-901f-00c04fb951ed}`, nil},
	}
	for _, tt := range tests {
		id, ok := instanceIDFromSymbolicLink(tt.link)
		if !ok {
			t.Fatalf("link %q does not parse", tt.link)
		}
		got := deviceForEvent(id, looked)
		if (got == nil) != (tt.want == nil) || (got != nil && !proto.Equal(got, tt.want)) {
			t.Errorf("%s:\n got %v\nwant %v", tt.link, got, tt.want)
		}
	}
}

func TestMakerFromManufacturer(t *testing.T) {
	for in, want := range map[string]string{
		"(Standard USB HUBs)": "", "(Standard system devices)": "", "Microsoft": "", "Compatible USB storage device": "",
		"HID Global": "HID Global", " Realtek ": "Realtek", "": "",
	} {
		if got := makerFromManufacturer(in); got != want {
			t.Errorf("makerFromManufacturer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFiletimeToTime(t *testing.T) {
	tests := []struct {
		ft   uint64
		want time.Time
	}{
		{133618833200000000, time.Date(2024, 6, 3, 10, 15, 20, 0, time.UTC)},
		{133618833201234567, time.Date(2024, 6, 3, 10, 15, 20, 123456700, time.UTC)},
		{116444736000000000, time.Time{}}, // 1970 exactly: treated as unset
		{0, time.Time{}},
		{1, time.Time{}},
	}
	for _, tt := range tests {
		if got := filetimeToTime(tt.ft); !got.Equal(tt.want) {
			t.Errorf("filetimeToTime(%d) = %v, want %v", tt.ft, got, tt.want)
		}
	}
}

func TestDevpropDecoding(t *testing.T) {
	utf16le := func(parts ...string) []byte {
		var b []byte
		for _, p := range parts {
			for _, c := range utf16.Encode([]rune(p)) {
				b = binary.LittleEndian.AppendUint16(b, c)
			}
			b = append(b, 0, 0)
		}
		return b
	}
	if got := devpropString(utf16le(`USB\VID_0781&PID_5567\4C53`)); got != `USB\VID_0781&PID_5567\4C53` {
		t.Errorf("string: %q", got)
	}
	if got := devpropString(utf16le("Caméra intégrée")); got != "Caméra intégrée" {
		t.Errorf("non-ASCII string: %q", got)
	}
	if got := devpropString(nil); got != "" {
		t.Errorf("empty: %q", got)
	}
	list := devpropStringList(utf16le(`USB\VID_1&MI_00\a`, `USBSTOR\Disk\b&0`, ""))
	if strings.Join(list, "|") != `USB\VID_1&MI_00\a|USBSTOR\Disk\b&0` {
		t.Errorf("list: %q", list)
	}

	ft := binary.LittleEndian.AppendUint64(nil, 133618833200000000)
	if v, ok := devpropFiletime(ft); !ok || v != 133618833200000000 {
		t.Errorf("filetime: %d, %v", v, ok)
	}
	if _, ok := devpropFiletime(ft[:4]); ok {
		t.Error("4-byte filetime accepted")
	}
}
