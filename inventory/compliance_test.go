package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	def := inventory.DefaultPolicy()
	good := func() *inventory.Posture {
		return &inventory.Posture{
			Antivirus: &inventory.Antivirus{Products: []inventory.AntivirusProduct{
				{Name: "Windows Defender", Source: "defender", Enabled: true, SignatureUpdated: now.Add(-20 * time.Hour)},
			}},
			Encryption: &inventory.Encryption{Volumes: []inventory.Volume{
				{Name: "D:", State: inventory.VolumeNotEncrypted},
				{Name: "C:", OSVolume: true, State: inventory.VolumeEncrypted, Protection: "on", EncryptionPercent: 100},
			}},
			ScreenLock: &inventory.ScreenLock{IdleLockSeconds: 300, PasswordOnWake: true},
		}
	}
	seen := now.Add(-time.Hour)
	tests := []struct {
		name     string
		policy   func(p *inventory.Policy)
		posture  func(p *inventory.Posture) *inventory.Posture
		lastSeen time.Time
		status   string
		rule     string // the rule whose result is checked; "" checks none
		ruleStat string
		reason   string // a part of the rule's reason
	}{
		{"AllGood", nil, nil, seen, inventory.StatusCompliant, "", "", ""},
		{"NoPosture", nil, func(*inventory.Posture) *inventory.Posture { return nil }, seen, inventory.StatusUnknown, inventory.RuleEncryption, inventory.StatusUnknown, "not reported"},
		{"EncryptionUnreadable", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption = &inventory.Encryption{UnknownReason: "no permission"}
			return p
		}, seen, inventory.StatusUnknown, inventory.RuleEncryption, inventory.StatusUnknown, "no permission"},
		{"Suspended", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption.Volumes[1].State, p.Encryption.Volumes[1].Protection = inventory.VolumeSuspended, "off"
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleEncryption, inventory.StatusNoncompliant, "C: is encrypted but protection is suspended"},
		{"ProtectionOff", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption.Volumes[1].Protection = "off"
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleEncryption, inventory.StatusNoncompliant, "suspended"},
		{"Encrypting", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption.Volumes[1].State, p.Encryption.Volumes[1].EncryptionPercent = inventory.VolumeEncrypting, 42.5
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleEncryption, inventory.StatusNoncompliant, "still encrypting (42%)"},
		{"NotEncrypted", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption.Volumes[1].State = inventory.VolumeNotEncrypted
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleEncryption, inventory.StatusNoncompliant, "C: is not encrypted"},
		{"NoOSVolume", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption.Volumes = p.Encryption.Volumes[:1]
			return p
		}, seen, inventory.StatusUnknown, inventory.RuleEncryption, inventory.StatusUnknown, "no OS volume"},
		{"EncryptionNotRequired", func(p *inventory.Policy) { p.RequireEncryption = false }, func(p *inventory.Posture) *inventory.Posture {
			p.Encryption.Volumes[1].State = inventory.VolumeNotEncrypted
			return p
		}, seen, inventory.StatusCompliant, inventory.RuleEncryption, inventory.StatusNotRequired, ""},
		{"NoAntivirus", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Antivirus.Products = nil
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleAntivirus, inventory.StatusNoncompliant, "no antivirus found"},
		{"AntivirusDisabled", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Antivirus.Products[0].Enabled = false
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleAntivirus, inventory.StatusNoncompliant, "no antivirus is enabled"},
		{"StaleDefinitions", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Antivirus.Products[0].SignatureUpdated = now.Add(-5*24*time.Hour - time.Hour)
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleAntivirus, inventory.StatusNoncompliant, "Windows Defender definitions are 5 days old (limit 3 days)"},
		{"StaleButLongerLimit", func(p *inventory.Policy) { p.MaxSignatureAgeDays = 7 }, func(p *inventory.Posture) *inventory.Posture {
			p.Antivirus.Products[0].SignatureUpdated = now.Add(-5 * 24 * time.Hour)
			return p
		}, seen, inventory.StatusCompliant, inventory.RuleAntivirus, inventory.StatusCompliant, ""},
		{"ThirdPartyUpToDateWithoutDate", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Antivirus.Products = []inventory.AntivirusProduct{{Name: "Sophos", Source: "security_center", Enabled: true, UpToDate: true}}
			return p
		}, seen, inventory.StatusCompliant, inventory.RuleAntivirus, inventory.StatusCompliant, ""},
		{"ThirdPartyOutOfDate", nil, func(p *inventory.Posture) *inventory.Posture {
			p.Antivirus.Products = []inventory.AntivirusProduct{{Name: "Sophos", Enabled: true}}
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleAntivirus, inventory.StatusNoncompliant, "Sophos says its definitions are out of date"},
		{"NeverLocks", nil, func(p *inventory.Posture) *inventory.Posture {
			p.ScreenLock.IdleLockSeconds = 0
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleScreenLock, inventory.StatusNoncompliant, "never locks"},
		{"LocksTooLate", nil, func(p *inventory.Posture) *inventory.Posture {
			p.ScreenLock.IdleLockSeconds = 900
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleScreenLock, inventory.StatusNoncompliant, "15 minutes idle (limit 10 minutes)"},
		{"NoPasswordOnWake", nil, func(p *inventory.Posture) *inventory.Posture {
			p.ScreenLock.PasswordOnWake = false
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleScreenLock, inventory.StatusNoncompliant, "no password"},
		{"ScreenLockUnknown", nil, func(p *inventory.Posture) *inventory.Posture {
			p.ScreenLock = &inventory.ScreenLock{UnknownReason: "no desktop session"}
			return p
		}, seen, inventory.StatusUnknown, inventory.RuleScreenLock, inventory.StatusUnknown, "no desktop session"},
		{"NotSeen", nil, nil, now.Add(-8 * 24 * time.Hour), inventory.StatusNoncompliant, inventory.RuleSeenRecently, inventory.StatusNoncompliant, "last seen 8 days ago (limit 7 days)"},
		{"NeverSeen", nil, nil, time.Time{}, inventory.StatusUnknown, inventory.RuleSeenRecently, inventory.StatusUnknown, "never checked in"},
		{"FailBeatsUnknown", nil, func(p *inventory.Posture) *inventory.Posture {
			p.ScreenLock = nil
			p.Antivirus.Products = nil
			return p
		}, seen, inventory.StatusNoncompliant, inventory.RuleScreenLock, inventory.StatusUnknown, "not reported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := def
			if tt.policy != nil {
				tt.policy(&policy)
			}
			p := good()
			if tt.posture != nil {
				p = tt.posture(p)
			}
			c := inventory.Judge(policy, p, tt.lastSeen, now)
			if c.Status != tt.status {
				t.Errorf("status = %s, want %s (%+v)", c.Status, tt.status, c.Rules)
			}
			if len(c.Rules) != len(inventory.Rules) {
				t.Fatalf("%d rule results, want %d", len(c.Rules), len(inventory.Rules))
			}
			if tt.rule == "" {
				return
			}
			for _, r := range c.Rules {
				if r.Rule != tt.rule {
					continue
				}
				if r.Status != tt.ruleStat || !strings.Contains(r.Reason, tt.reason) {
					t.Errorf("%s = %s %q, want %s containing %q", r.Rule, r.Status, r.Reason, tt.ruleStat, tt.reason)
				}
			}
		})
	}
}

func TestPolicy_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *inventory.Policy)
		want   string
	}{
		{"Default", func(*inventory.Policy) {}, ""},
		{"SeenOff", func(p *inventory.Policy) { p.MaxDaysUnseen = 0 }, ""},
		{"ZeroSignatureAge", func(p *inventory.Policy) { p.MaxSignatureAgeDays = 0 }, "max_signature_age_days"},
		{"HugeIdle", func(p *inventory.Policy) { p.MaxIdleLockMinutes = 1000 }, "max_idle_lock_minutes"},
		{"NegativeSeen", func(p *inventory.Policy) { p.MaxDaysUnseen = -1 }, "max_days_unseen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := inventory.DefaultPolicy()
			tt.mutate(&p)
			err := p.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (inventory.ErrorCode(err) != inventory.EINVALID || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPolicyRequires(t *testing.T) {
	off := inventory.Policy{MaxSignatureAgeDays: 3, MaxIdleLockMinutes: 10}
	for _, tc := range []struct {
		rule      string
		def, none bool
	}{
		{inventory.RuleEncryption, true, false},
		{inventory.RuleAntivirus, true, false},
		{inventory.RuleScreenLock, true, false},
		{inventory.RuleSeenRecently, true, false},
		{"firewall", false, false},
	} {
		if got := inventory.DefaultPolicy().Requires(tc.rule); got != tc.def {
			t.Errorf("DefaultPolicy().Requires(%s) = %v", tc.rule, got)
		}
		if got := off.Requires(tc.rule); got != tc.none {
			t.Errorf("policy with every rule off: Requires(%s) = %v", tc.rule, got)
		}
	}
}

func TestJudgeVerdictUntil(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	policy := inventory.DefaultPolicy() // definitions at most 3 days old
	defender := func(age time.Duration, enabled bool) inventory.AntivirusProduct {
		return inventory.AntivirusProduct{Name: "Defender", Enabled: enabled, UpToDate: true, SignatureUpdated: now.Add(-age)}
	}
	day := 24 * time.Hour
	tests := []struct {
		name     string
		products []inventory.AntivirusProduct
		policy   inventory.Policy
		want     time.Time
	}{
		{"OneFresh", []inventory.AntivirusProduct{defender(day, true)}, policy, now.Add(2 * day)},
		{"FreshestCounts", []inventory.AntivirusProduct{defender(2*day, true), defender(12*time.Hour, true)}, policy, now.Add(3*day - 12*time.Hour)},
		{"DisabledIgnored", []inventory.AntivirusProduct{defender(2*day, true), defender(0, false)}, policy, now.Add(day)},
		{"AlreadyStale", []inventory.AntivirusProduct{defender(4*day, true)}, policy, time.Time{}},
		{"NoDateButUpToDate", []inventory.AntivirusProduct{defender(day, true), {Name: "Other", Enabled: true, UpToDate: true}}, policy, time.Time{}},
		{"RuleOff", []inventory.AntivirusProduct{defender(day, true)}, inventory.Policy{MaxSignatureAgeDays: 3, MaxIdleLockMinutes: 10}, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &inventory.Posture{Antivirus: &inventory.Antivirus{Products: tc.products}}
			v := inventory.JudgeVerdict(tc.policy, p, now, now)
			if !v.Until.Equal(tc.want) {
				t.Errorf("Until = %v, want %v (verdict %+v)", v.Until, tc.want, v)
			}
			// Just after Until the verdict fails the antivirus rule.
			if !tc.want.IsZero() {
				later := inventory.JudgeVerdict(tc.policy, p, now, tc.want.Add(time.Second))
				if !later.Fails(inventory.RuleAntivirus) {
					t.Errorf("at Until+1s the verdict is %+v, want antivirus failing", later)
				}
			}
		})
	}
}
