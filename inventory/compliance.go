package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Policy is a school's compliance rules: the promises its policy makes
// about every device.
type Policy struct {
	// RequireEncryption: the OS volume is fully encrypted with protection on.
	RequireEncryption bool `json:"require_encryption"`
	// RequireAntivirus: an antivirus is enabled with definitions no older
	// than MaxSignatureAgeDays.
	RequireAntivirus    bool `json:"require_antivirus"`
	MaxSignatureAgeDays int  `json:"max_signature_age_days"`
	// RequireScreenLock: the screen locks within MaxIdleLockMinutes of
	// idleness, asking for a password on wake when RequirePasswordOnWake.
	RequireScreenLock     bool `json:"require_screen_lock"`
	MaxIdleLockMinutes    int  `json:"max_idle_lock_minutes"`
	RequirePasswordOnWake bool `json:"require_password_on_wake"`
	// MaxDaysUnseen: the device has checked in within this many days; 0
	// turns the rule off.
	MaxDaysUnseen int `json:"max_days_unseen"`
	// FlagMassStorage: every mass-storage insertion is flagged for review.
	FlagMassStorage bool `json:"flag_mass_storage"`
}

// DefaultPolicy is the policy of a school that has not set its own.
func DefaultPolicy() Policy {
	return Policy{
		RequireEncryption:     true,
		RequireAntivirus:      true,
		MaxSignatureAgeDays:   3,
		RequireScreenLock:     true,
		MaxIdleLockMinutes:    10,
		RequirePasswordOnWake: true,
		MaxDaysUnseen:         7,
		FlagMassStorage:       true,
	}
}

// DecodePolicy reads a policy stored as JSON; empty means the default.
// Settings missing from the document keep their default values, so a
// policy stored before a setting existed gets that setting's default.
func DecodePolicy(b []byte) (Policy, error) {
	p := DefaultPolicy()
	if len(b) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("stored policy: %w", err)
	}
	return p, nil
}

// Validate returns an EINVALID error naming the first setting out of range.
func (p Policy) Validate() error {
	switch {
	case p.MaxSignatureAgeDays < 1 || p.MaxSignatureAgeDays > 90:
		return Errorf(EINVALID, "max_signature_age_days: %d is outside 1..90", p.MaxSignatureAgeDays)
	case p.MaxIdleLockMinutes < 1 || p.MaxIdleLockMinutes > 240:
		return Errorf(EINVALID, "max_idle_lock_minutes: %d is outside 1..240", p.MaxIdleLockMinutes)
	case p.MaxDaysUnseen < 0 || p.MaxDaysUnseen > 365:
		return Errorf(EINVALID, "max_days_unseen: %d is outside 0..365 (0 turns the rule off)", p.MaxDaysUnseen)
	}
	return nil
}

// Compliance rules, as named in results.
const (
	RuleEncryption   = "encryption"
	RuleAntivirus    = "antivirus"
	RuleScreenLock   = "screen_lock"
	RuleSeenRecently = "seen_recently"
)

// Rules lists the rules in the order results give them.
var Rules = []string{RuleEncryption, RuleAntivirus, RuleScreenLock, RuleSeenRecently}

// Compliance statuses.
const (
	StatusCompliant    = "compliant"
	StatusNoncompliant = "noncompliant"
	StatusUnknown      = "unknown"
	StatusNotRequired  = "not_required"
)

// RuleResult is one rule's verdict on a device.
type RuleResult struct {
	Rule   string `json:"rule"`
	Status string `json:"status"` // compliant, noncompliant, unknown or not_required
	Reason string `json:"reason,omitempty"`
}

// Compliance is a device judged against its school's policy: compliant
// when every required rule holds, noncompliant when any fails (each
// failing rule says why), else unknown (each unknown rule says what is
// missing).
type Compliance struct {
	Status string       `json:"status"`
	Rules  []RuleResult `json:"rules"`
}

// With returns the rule results with the given status.
func (c Compliance) With(status string) []RuleResult {
	var out []RuleResult
	for _, r := range c.Rules {
		if r.Status == status {
			out = append(out, r)
		}
	}
	return out
}

// Judge judges a device with posture p (nil when it has sent none) last
// seen at lastSeen against policy at now.
func Judge(policy Policy, p *Posture, lastSeen, now time.Time) Compliance {
	if p == nil {
		p = &Posture{}
	}
	c := Compliance{Rules: []RuleResult{
		judgeEncryption(policy, p.Encryption),
		judgeAntivirus(policy, p.Antivirus, now),
		judgeScreenLock(policy, p.ScreenLock),
		judgeSeen(policy, lastSeen, now),
	}}
	c.Status = StatusCompliant
	for _, r := range c.Rules {
		switch {
		case r.Status == StatusNoncompliant:
			c.Status = StatusNoncompliant
		case r.Status == StatusUnknown && c.Status == StatusCompliant:
			c.Status = StatusUnknown
		}
	}
	return c
}

func pass(rule string) RuleResult { return RuleResult{Rule: rule, Status: StatusCompliant} }

func fail(rule, format string, args ...any) RuleResult {
	return RuleResult{Rule: rule, Status: StatusNoncompliant, Reason: fmt.Sprintf(format, args...)}
}

func unknown(rule, reason string) RuleResult {
	return RuleResult{Rule: rule, Status: StatusUnknown, Reason: reason}
}

// notReported is the reason for a concern the agent never sent.
const notReported = "the agent has not reported it"

func judgeEncryption(policy Policy, e *Encryption) RuleResult {
	switch {
	case !policy.RequireEncryption:
		return RuleResult{Rule: RuleEncryption, Status: StatusNotRequired}
	case e == nil:
		return unknown(RuleEncryption, notReported)
	case e.UnknownReason != "":
		return unknown(RuleEncryption, "the agent could not read it: "+e.UnknownReason)
	}
	for _, v := range e.Volumes {
		if !v.OSVolume {
			continue
		}
		switch {
		case v.State == VolumeEncrypted && v.Protection != "off":
			return pass(RuleEncryption)
		case v.State == VolumeUnknown || v.State == "":
			return unknown(RuleEncryption, fmt.Sprintf("the state of OS volume %s is unknown", v.Name))
		case v.State == VolumeEncrypting:
			return fail(RuleEncryption, "OS volume %s is still encrypting (%.0f%%)", v.Name, v.EncryptionPercent)
		case v.State == VolumeSuspended || v.Protection == "off":
			return fail(RuleEncryption, "OS volume %s is encrypted but protection is suspended", v.Name)
		default:
			return fail(RuleEncryption, "OS volume %s is %s", v.Name, strings.ReplaceAll(v.State, "_", " "))
		}
	}
	return unknown(RuleEncryption, "no OS volume was reported")
}

func judgeAntivirus(policy Policy, a *Antivirus, now time.Time) RuleResult {
	switch {
	case !policy.RequireAntivirus:
		return RuleResult{Rule: RuleAntivirus, Status: StatusNotRequired}
	case a == nil:
		return unknown(RuleAntivirus, notReported)
	case a.UnknownReason != "":
		return unknown(RuleAntivirus, "the agent could not read it: "+a.UnknownReason)
	case len(a.Products) == 0:
		return fail(RuleAntivirus, "no antivirus found")
	}
	maxAge := time.Duration(policy.MaxSignatureAgeDays) * 24 * time.Hour
	var stale []string
	for _, p := range a.Products {
		if !p.Enabled {
			continue
		}
		if p.SignatureUpdated.IsZero() {
			if p.UpToDate {
				return pass(RuleAntivirus)
			}
			stale = append(stale, p.Name+" says its definitions are out of date")
			continue
		}
		if age := now.Sub(p.SignatureUpdated); age <= maxAge {
			return pass(RuleAntivirus)
		} else {
			stale = append(stale, fmt.Sprintf("%s definitions are %d days old", p.Name, int(math.Floor(age.Hours()/24))))
		}
	}
	if len(stale) == 0 {
		return fail(RuleAntivirus, "no antivirus is enabled")
	}
	return fail(RuleAntivirus, "%s (limit %d days)", strings.Join(stale, "; "), policy.MaxSignatureAgeDays)
}

func judgeScreenLock(policy Policy, s *ScreenLock) RuleResult {
	switch {
	case !policy.RequireScreenLock:
		return RuleResult{Rule: RuleScreenLock, Status: StatusNotRequired}
	case s == nil:
		return unknown(RuleScreenLock, notReported)
	case s.UnknownReason != "":
		return unknown(RuleScreenLock, "the agent could not read it: "+s.UnknownReason)
	case s.IdleLockSeconds == 0:
		return fail(RuleScreenLock, "the screen never locks when left idle")
	case s.IdleLockSeconds > int64(policy.MaxIdleLockMinutes)*60:
		return fail(RuleScreenLock, "the screen locks after %s idle (limit %d minutes)", minutes(s.IdleLockSeconds), policy.MaxIdleLockMinutes)
	case policy.RequirePasswordOnWake && !s.PasswordOnWake:
		return fail(RuleScreenLock, "no password is asked for on wake")
	}
	return pass(RuleScreenLock)
}

// minutes writes seconds as whole minutes, or minutes and seconds.
func minutes(secs int64) string {
	if secs%60 == 0 {
		return fmt.Sprintf("%d minutes", secs/60)
	}
	return fmt.Sprintf("%dm%02ds", secs/60, secs%60)
}

func judgeSeen(policy Policy, lastSeen, now time.Time) RuleResult {
	switch {
	case policy.MaxDaysUnseen == 0:
		return RuleResult{Rule: RuleSeenRecently, Status: StatusNotRequired}
	case lastSeen.IsZero():
		return unknown(RuleSeenRecently, "the device has never checked in")
	}
	if age := now.Sub(lastSeen); age > time.Duration(policy.MaxDaysUnseen)*24*time.Hour {
		return fail(RuleSeenRecently, "last seen %d days ago (limit %d days)", int(age.Hours()/24), policy.MaxDaysUnseen)
	}
	return pass(RuleSeenRecently)
}

// Verdict is a device's compliance as stored: the overall status and the
// rules it fails or cannot be judged on, each in the order of [Rules].
// A device not yet judged has an empty Status.
type Verdict struct {
	Status  string   `json:"status"`
	Failing []string `json:"failing"`
	Unknown []string `json:"unknown"`
	// Until is when the verdict goes out of date with time alone — the
	// freshest antivirus definitions reaching the policy's age limit —
	// or zero when it does not. The server's sweep judges a device again
	// once its verdict's Until has passed, and a policy change sets it to
	// the time of the change.
	Until time.Time `json:"until,omitzero"`
}

// JudgeVerdict judges a device with posture p (nil when it has sent
// none) last seen at lastSeen against policy at now, in the form stored.
func JudgeVerdict(policy Policy, p *Posture, lastSeen, now time.Time) Verdict {
	v := VerdictOf(Judge(policy, p, lastSeen, now))
	if p != nil && policy.RequireAntivirus && !v.Fails(RuleAntivirus) && !slices.Contains(v.Unknown, RuleAntivirus) && p.Antivirus != nil {
		v.Until = definitionsExpire(policy, p.Antivirus, now)
	}
	return v
}

// definitionsExpire returns when the last enabled antivirus whose
// definitions are fresh at now goes past the age limit, or zero when one
// passes without a date (its own "up to date" flag) or none is fresh.
func definitionsExpire(policy Policy, a *Antivirus, now time.Time) time.Time {
	maxAge := time.Duration(policy.MaxSignatureAgeDays) * 24 * time.Hour
	var until time.Time
	for _, p := range a.Products {
		switch {
		case !p.Enabled:
		case p.SignatureUpdated.IsZero():
			if p.UpToDate {
				return time.Time{}
			}
		case now.Sub(p.SignatureUpdated) <= maxAge:
			if t := p.SignatureUpdated.Add(maxAge); t.After(until) {
				until = t
			}
		}
	}
	return until
}

// VerdictOf returns the stored form of c.
func VerdictOf(c Compliance) Verdict {
	v := Verdict{Status: c.Status}
	for _, r := range c.Rules {
		switch r.Status {
		case StatusNoncompliant:
			v.Failing = append(v.Failing, r.Rule)
		case StatusUnknown:
			v.Unknown = append(v.Unknown, r.Rule)
		}
	}
	return v
}

// Fails reports whether the verdict fails rule.
func (v Verdict) Fails(rule string) bool { return slices.Contains(v.Failing, rule) }

// Seen returns the verdict of a device that has just checked in: without
// a seen_recently failure or unknown, and with its status recomputed from
// what remains.
func (v Verdict) Seen() Verdict {
	if v.Status == "" {
		return v
	}
	out := Verdict{
		Failing: slices.DeleteFunc(slices.Clone(v.Failing), func(r string) bool { return r == RuleSeenRecently }),
		Unknown: slices.DeleteFunc(slices.Clone(v.Unknown), func(r string) bool { return r == RuleSeenRecently }),
		Until:   v.Until,
	}
	switch {
	case len(out.Failing) > 0:
		out.Status = StatusNoncompliant
	case len(out.Unknown) > 0:
		out.Status = StatusUnknown
	default:
		out.Status = StatusCompliant
	}
	if len(out.Failing) == 0 {
		out.Failing = nil
	}
	if len(out.Unknown) == 0 {
		out.Unknown = nil
	}
	return out
}

// ComplianceDay is one school's compliance counts on one day, kept for
// the dashboard's 30-day chart.
type ComplianceDay struct {
	SchoolID     uuid.UUID
	Day          time.Time // midnight UTC of the day
	Devices      int
	Compliant    int
	Noncompliant int
	Unknown      int
}

// ComplianceHistoryStore keeps daily compliance counts.
type ComplianceHistoryStore interface {
	// RecordComplianceDay stores d, replacing the counts stored for the
	// same school and day. Returns ENOTFOUND for an unknown school.
	RecordComplianceDay(ctx context.Context, d ComplianceDay) error
	// FindComplianceDays returns the days of these schools (nil: every
	// school) on or after since, oldest first, then by school.
	FindComplianceDays(ctx context.Context, schoolIDs []uuid.UUID, since time.Time) ([]ComplianceDay, error)
}

// Requires reports whether the policy checks rule at all.
func (p Policy) Requires(rule string) bool {
	switch rule {
	case RuleEncryption:
		return p.RequireEncryption
	case RuleAntivirus:
		return p.RequireAntivirus
	case RuleScreenLock:
		return p.RequireScreenLock
	case RuleSeenRecently:
		return p.MaxDaysUnseen > 0
	}
	return false
}
