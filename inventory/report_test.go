package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

func TestReport_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *inventory.Report)
		want   string // "" means valid
	}{
		{"Valid", func(r *inventory.Report) {}, ""},
		{"InvalidUTF8", func(r *inventory.Report) { r.Hardware.Serial = "\xff" }, "hardware.serial: not valid UTF-8"},
		{"NUL", func(r *inventory.Report) { r.Hardware.Hostname = "a\x00b" }, "hardware.hostname: contains a NUL"},
		{"LongString", func(r *inventory.Report) { r.Hardware.Make = strings.Repeat("m", inventory.MaxStringLen+1) }, "hardware.make"},
		{"TooManyMACs", func(r *inventory.Report) { r.Hardware.MACAddresses = make([]string, inventory.MaxItems+1) }, "hardware.mac_addresses"},
		{"AncientInstall", func(r *inventory.Report) { r.Hardware.OSInstallDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }, "hardware.os_install_date"},
		{"NegativeIdle", func(r *inventory.Report) {
			r.Posture.ScreenLock = &inventory.ScreenLock{IdleLockSeconds: -1}
		}, "posture.screen_lock.idle_lock_seconds"},
		{"BadUSB", func(r *inventory.Report) {
			r.Posture.USB = &inventory.USB{Devices: []inventory.USBDevice{{VendorID: "0781", Product: "\xfe"}}}
		}, "posture.usb.devices[0].product"},
		{"BadVolumePercent", func(r *inventory.Report) {
			r.Posture.Encryption = &inventory.Encryption{Volumes: []inventory.Volume{{Name: "C:", EncryptionPercent: 101}}}
		}, "posture.encryption.volumes[0].encryption_percent"},
		{"TooManyProducts", func(r *inventory.Report) {
			r.Posture.Antivirus = &inventory.Antivirus{Products: make([]inventory.AntivirusProduct, inventory.MaxItems+1)}
		}, "posture.antivirus.products"},
		{"BadSettingSource", func(r *inventory.Report) {
			r.Posture.ScreenLock = &inventory.ScreenLock{Settings: []inventory.ScreenLockSetting{{Name: "idle", Source: "\x00"}}}
		}, "posture.screen_lock.settings[0].source"},
		{"RecoveryKeyWithoutID", func(r *inventory.Report) {
			r.RecoveryKeys = []inventory.RecoveryKey{{Volume: "C:", NumericalPassword: "111111-222222-333333-444444-555555-666666-777777-888888"}}
		}, "posture.encryption.recovery_keys[0].protector_id"},
		{"RecoveryKeyGarbage", func(r *inventory.Report) {
			r.RecoveryKeys = []inventory.RecoveryKey{{ProtectorID: "{id}", NumericalPassword: strings.Repeat("9", 200)}}
		}, "not a BitLocker numerical password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &inventory.Report{Hardware: inventory.Hardware{Make: "Dell Inc.", Hostname: "LAPTOP-1", CPUCores: 4}}
			tc.mutate(r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if inventory.ErrorCode(err) != inventory.EINVALID || !strings.Contains(inventory.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v, want EINVALID containing %q", err, tc.want)
			}
		})
	}
}

func TestEnrollToken_Usable(t *testing.T) {
	now := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	hash := []byte("0123456789abcdef0123456789abcdef")
	base := inventory.EnrollToken{ID: uuid.New(), SecretHash: hash, MaxUses: 2, Uses: 1, ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name   string
		mutate func(t *inventory.EnrollToken)
		secret []byte
		want   string
	}{
		{"Usable", func(*inventory.EnrollToken) {}, hash, ""},
		{"WrongSecret", func(*inventory.EnrollToken) {}, []byte("nope"), inventory.EUNAUTHORIZED},
		{"Revoked", func(t *inventory.EnrollToken) { t.RevokedAt = now.Add(-time.Minute) }, hash, inventory.EREVOKED},
		{"Expired", func(t *inventory.EnrollToken) { t.ExpiresAt = now }, hash, inventory.EEXPIRED},
		{"UsedUp", func(t *inventory.EnrollToken) { t.Uses = 2 }, hash, inventory.EEXHAUSTED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := base
			tc.mutate(&tok)
			if got := inventory.ErrorCode(tok.Usable(tc.secret, now)); got != tc.want {
				t.Errorf("code = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want, code string }{
		{"Tess@School.Example", "tess@school.example", ""},
		{"not an email", "", inventory.EINVALID},
		{"Tess <tess@school.example>", "", inventory.EINVALID},
	}
	for _, tc := range tests {
		got, err := inventory.NormalizeEmail(tc.in)
		if got != tc.want || inventory.ErrorCode(err) != tc.code {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, code %q", tc.in, got, err, tc.want, tc.code)
		}
	}
}

func TestPostureChanges(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	snap := func(h int, p inventory.Posture) *inventory.PostureSnapshot {
		return &inventory.PostureSnapshot{ReceivedAt: t0.Add(time.Duration(h) * time.Hour), Posture: p}
	}
	enc := func(state string) *inventory.Encryption {
		return &inventory.Encryption{Volumes: []inventory.Volume{{Name: "C:", OSVolume: true, State: state}}}
	}
	lock := &inventory.ScreenLock{IdleLockSeconds: 300, PasswordOnWake: true}
	// Newest first: encrypted at 0h, lock added at 1h, suspended at 2h.
	snaps := []*inventory.PostureSnapshot{
		snap(2, inventory.Posture{Encryption: enc(inventory.VolumeSuspended), ScreenLock: lock}),
		snap(1, inventory.Posture{Encryption: enc(inventory.VolumeEncrypted), ScreenLock: lock}),
		snap(0, inventory.Posture{Encryption: enc(inventory.VolumeEncrypted)}),
	}
	got := inventory.PostureChanges(snaps)
	want := []struct {
		concern string
		hour    int
		before  string // a part of the JSON, or "null"
		after   string
	}{
		{"encryption", 2, `"state":"encrypted"`, `"state":"suspended"`},
		{"screen_lock", 1, "null", `"idle_lock_seconds":300`},
		{"encryption", 0, "null", `"state":"encrypted"`},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Concern != w.concern || !g.ChangedAt.Equal(t0.Add(time.Duration(w.hour)*time.Hour)) ||
			!strings.Contains(string(g.Before), w.before) || !strings.Contains(string(g.After), w.after) {
			t.Errorf("change %d = %s at %v: %s -> %s; want %s at %dh", i, g.Concern, g.ChangedAt, g.Before, g.After, w.concern, w.hour)
		}
	}
	if len(inventory.PostureChanges(nil)) != 0 {
		t.Error("no snapshots should give no changes")
	}
}
