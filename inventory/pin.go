package inventory

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// PINKind is what sort of secret a PIN record holds.
type PINKind string

// Kinds of PIN record, as the API's paths name them.
const (
	PINDevicePasscode       PINKind = "device_passcode"       // the passcode or PIN that unlocks the device
	PINRestrictionsPasscode PINKind = "restrictions_passcode" // iPad restrictions or Screen Time passcode
	PINFirmwarePassword     PINKind = "firmware_password"     // BIOS or UEFI password
	PINBitLockerRecoveryKey PINKind = "bitlocker_recovery_key"
	PINAppleIDNote          PINKind = "apple_id_note" // Apple ID or Activation Lock note
)

// PINKinds lists every kind, in the order pages show them.
var PINKinds = []PINKind{PINDevicePasscode, PINRestrictionsPasscode, PINFirmwarePassword, PINBitLockerRecoveryKey, PINAppleIDNote}

// ParsePINKind returns the kind named s, or EINVALID naming the kinds.
func ParsePINKind(s string) (PINKind, error) {
	for _, k := range PINKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", Errorf(EINVALID, "PIN kind %q: use %s", s, joinQuoted(PINKinds))
}

// MaxPINValue is the longest value a PIN record holds, in characters.
const MaxPINValue = 500

// CheckPINValue checks a value to record: not empty, not too long, no
// control characters but line breaks (an Apple ID note may have lines).
func CheckPINValue(v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return Errorf(EINVALID, "value: give the PIN, passcode or note to record")
	case utf8.RuneCountInString(v) > MaxPINValue:
		return Errorf(EINVALID, "value: at most %d characters", MaxPINValue)
	case !utf8.ValidString(v):
		return Errorf(EINVALID, "value: not valid text")
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return Errorf(EINVALID, "value: remove the control characters")
		}
	}
	return nil
}

// PINRecord is the current secret of one kind for one piece of kit,
// sealed by the server before it reaches the store: the store never sees
// it in the clear. A BitLocker recovery key an agent escrows is kept with
// the device's recovery keys instead ([EscrowStore]); a record of that
// kind is one a technician typed in for kit without an agent.
type PINRecord struct {
	ID       uuid.UUID
	SchoolID uuid.UUID
	AssetID  uuid.UUID
	Kind     PINKind
	Sealed   []byte
	SetBy    uuid.UUID
	SetAt    time.Time
	// RetiredAt is when the record stopped applying (the kit was reset
	// after its holder left, or disposed); zero while it applies.
	RetiredAt time.Time
}

// Validate checks a record to store: a known kind, a sealed value, and
// who set it.
func (r *PINRecord) Validate() error {
	if _, err := ParsePINKind(string(r.Kind)); err != nil {
		return err
	}
	if len(r.Sealed) == 0 {
		return Errorf(EINVALID, "PIN record: no sealed value")
	}
	if r.SetBy == uuid.Nil {
		return Errorf(EINVALID, "PIN record: say who set it")
	}
	return nil
}

// CheckPINAsset checks that a record or log entry of school *schoolID may
// be about kit a, filling *schoolID with the kit's when zero: kit of
// another school is refused, and disposed kit has no PINs.
func CheckPINAsset(schoolID *uuid.UUID, a *Asset) error {
	if *schoolID == uuid.Nil {
		*schoolID = a.SchoolID
	}
	switch {
	case a.SchoolID != *schoolID:
		return Errorf(EINVALID, "%s belongs to another school", a.Label())
	case a.Status == AssetDisposed:
		return Errorf(ECONFLICT, "%s is disposed: its PINs are gone", a.Label())
	}
	return nil
}

// PINHistory is a value a record held before it was changed, kept sealed
// for the retention period and then purged.
type PINHistory struct {
	RecordID   uuid.UUID
	Sealed     []byte
	SetBy      uuid.UUID
	SetAt      time.Time
	ReplacedAt time.Time
}

// DefaultPINHistoryDays is how long a changed value is kept when the
// school has not set its own period (see [Retention]).
const DefaultPINHistoryDays = 90

// PIN log actions.
const (
	PINActionSet     = "set"     // a value recorded or changed
	PINActionView    = "view"    // a value shown to someone
	PINActionUse     = "use"     // someone says they used the PIN
	PINActionRefused = "refused" // a view was refused (wrong password, no reason, no role)
	PINActionRetire  = "retire"  // the record stopped applying
	PINActionPurge   = "purge"   // old values deleted at the end of their retention
)

// PINLogEntry is one line of the PIN log: who did what with which kit's
// PIN, when, from where and why. It never holds a value.
type PINLogEntry struct {
	ID       uuid.UUID
	SchoolID uuid.UUID
	AssetID  uuid.UUID
	Kind     PINKind
	Action   string
	ActorID  uuid.UUID // uuid.Nil for Rollcall itself (a purge)
	At       time.Time
	Reason   string // what the person said, for a view or a use
	Addr     string
}

// Fit cuts the entry's free text to what the store keeps.
func (e *PINLogEntry) Fit() {
	if utf8.RuneCountInString(e.Reason) > maxLoanText {
		e.Reason = string([]rune(e.Reason)[:maxLoanText])
	}
}

// PINSettings are a school's rules for its PIN register.
type PINSettings struct {
	// HeadteacherMayReveal lets the headteacher view values as well as
	// the technician.
	HeadteacherMayReveal bool
	// NetworkManager is the email address told of every view by someone
	// else, and sent the weekly digest of the PIN log; "" for none.
	NetworkManager string
	// DigestSentAt is when the last weekly digest went out.
	DigestSentAt time.Time
}

// PINLogFilter selects PIN log entries, newest first.
type PINLogFilter struct {
	SchoolIDs []uuid.UUID // nil: every school; empty non-nil: none
	AssetID   uuid.UUID   // uuid.Nil keeps all
	ActorID   uuid.UUID   // uuid.Nil keeps all
	Since     time.Time   // zero: no bound
	Before    uuid.UUID   // the ID of the last entry of the previous page
	Limit     int         // zero or less: DefaultPageSize; at most MaxPageSize
}

// PageLimit returns the effective limit of f.
func (f PINLogFilter) PageLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultPageSize
	case f.Limit > MaxPageSize:
		return MaxPageSize
	}
	return f.Limit
}

// Sealed is one sealed value of any record, as [SealStore.ResealAll]
// shows it: the table it lives in, the IDs that name its row, and the
// value. The server binds each value to a context made from these, so
// it can open and seal it again.
type Sealed struct {
	Table string // "recovery_keys", "users", "pin_records" or "pin_history"
	// IDs name the row and what its value is bound to: for recovery_keys
	// the device and protector IDs; for users the user ID; for
	// pin_records the record ID, asset ID and kind; for pin_history the
	// record ID, the replaced-at time (RFC 3339, UTC, nanoseconds), the
	// asset ID and kind.
	IDs   []string
	Value []byte
}

// PINStore keeps the PIN register and the PIN log.
type PINStore interface {
	// SetPIN stores r as the asset's current record of its kind, filling
	// ID and SetAt. A record it replaces keeps its ID; the old value goes
	// to the history. The "set" entry goes into the PIN log in the same
	// transaction. Returns ENOTFOUND for an unknown asset or person, and
	// ECONFLICT for a disposed asset.
	SetPIN(ctx context.Context, r *PINRecord, log *PINLogEntry) error
	// FindPINRecord returns the asset's current record of a kind (retired
	// or not), or ENOTFOUND.
	FindPINRecord(ctx context.Context, assetID uuid.UUID, kind PINKind) (*PINRecord, error)
	// FindPINRecords returns every record of an asset, in the order of
	// PINKinds.
	FindPINRecords(ctx context.Context, assetID uuid.UUID) ([]*PINRecord, error)
	// RetirePINRecords retires every record of an asset not yet retired,
	// logging each, and returns how many. Returns ENOTFOUND.
	RetirePINRecords(ctx context.Context, assetID, by uuid.UUID, at time.Time) (int, error)
	// FindPINHistory returns the old values of a record, newest first.
	FindPINHistory(ctx context.Context, recordID uuid.UUID) ([]*PINHistory, error)
	// AppendPINLog adds an entry, filling ID and At when zero. Returns
	// ENOTFOUND for an unknown school or asset.
	AppendPINLog(ctx context.Context, e *PINLogEntry) error
	// FindPINLog returns the entries f selects.
	FindPINLog(ctx context.Context, f PINLogFilter) ([]*PINLogEntry, error)
	// SetSchoolPINSettings replaces a school's PIN settings. Returns
	// EINVALID for a network manager address that is not one, and
	// ENOTFOUND.
	SetSchoolPINSettings(ctx context.Context, schoolID uuid.UUID, s PINSettings) error
}

// SealStore reaches every sealed value, for a change of the vault key.
type SealStore interface {
	// ResealAll calls fn with every sealed value in the store (recovery
	// keys, TOTP secrets, PIN records and their history) and stores what
	// it returns, all in one transaction: if fn or a write fails, nothing
	// changes. Returns how many values it resealed.
	ResealAll(ctx context.Context, fn func(Sealed) ([]byte, error)) (int, error)
}
