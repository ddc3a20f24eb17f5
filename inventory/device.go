package inventory

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Device is one piece of school kit that an agent reports on. Devices are
// matched by serial number within a school, so a laptop that enrols again
// keeps its record.
type Device struct {
	ID         uuid.UUID
	SchoolID   uuid.UUID
	Hostname   string
	Make       string
	Model      string
	Serial     string
	OSName     string
	OSVersion  string
	Hardware   Hardware  // the full hardware inventory from the last report
	ReportHash string    // hash of the last full report, hex SHA-256
	LastSeenAt time.Time // last check-in of any kind
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// DeviceFilter selects devices. Results are ordered by ID, which is a
// UUIDv7 and so follows creation time.
type DeviceFilter struct {
	// SchoolIDs limits the result to these schools. A nil slice means every
	// school; an empty, non-nil slice means none.
	SchoolIDs []uuid.UUID
	// After is the keyset cursor: only devices with a greater ID are returned.
	After uuid.UUID
	// Limit caps the number returned; zero or less means DefaultPageSize.
	Limit int
}

// DefaultPageSize is the page size used when a filter gives none.
const DefaultPageSize = 100

// MaxPageSize is the largest page a filter may ask for.
const MaxPageSize = 1000

// PageLimit returns the effective limit of f.
func (f DeviceFilter) PageLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultPageSize
	case f.Limit > MaxPageSize:
		return MaxPageSize
	}
	return f.Limit
}

// CheckIn is one report from an agent: either a heartbeat that carries only
// the hash of the agent's current report, or a full report.
type CheckIn struct {
	DeviceID uuid.UUID
	Hash     string    // hex SHA-256 of the report as the agent serialised it
	Report   *Report   // nil for a heartbeat
	At       time.Time // when the server received it
	// RecoveryKeys are the report's recovery keys, sealed. With a full
	// report whose encryption was read, keys no longer reported are
	// retired.
	RecoveryKeys []EscrowedKey
}

// DeviceStore keeps devices and their check-ins.
type DeviceStore interface {
	// FindDeviceByID returns ENOTFOUND if there is no such device.
	FindDeviceByID(ctx context.Context, id uuid.UUID) (*Device, error)
	// FindDevices returns a page of devices matching f.
	FindDevices(ctx context.Context, f DeviceFilter) ([]*Device, error)
	// RecordCheckIn notes a check-in. For a heartbeat whose hash differs
	// from the stored report hash it returns EREPORTREQUIRED and changes
	// nothing. For a full report it updates the device's hardware, stores a
	// posture snapshot and the new hash, all in one transaction. Returns
	// ENOTFOUND for an unknown device.
	RecordCheckIn(ctx context.Context, c CheckIn) error
	// FindLatestPosture returns the newest posture snapshot of a device, or
	// ENOTFOUND when it has none.
	FindLatestPosture(ctx context.Context, deviceID uuid.UUID) (*PostureSnapshot, error)
	// FindPostureSnapshots returns a device's posture snapshots, newest
	// first, at most limit of them (DefaultPageSize when zero or less).
	FindPostureSnapshots(ctx context.Context, deviceID uuid.UUID, limit int) ([]*PostureSnapshot, error)
}

// PostureSnapshot is the posture part of one full report, kept as received.
type PostureSnapshot struct {
	ID         uuid.UUID
	DeviceID   uuid.UUID
	Hash       string
	Posture    Posture
	ReceivedAt time.Time
}

// EscrowedKey is a BitLocker recovery password held for a device, sealed
// by the server before it reaches the store: the store never sees it in
// the clear.
type EscrowedKey struct {
	DeviceID    uuid.UUID
	ProtectorID string
	Volume      string
	Sealed      []byte
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	RetiredAt   time.Time // zero while the agent still reports the protector
}

// EscrowStore keeps recovery keys.
type EscrowStore interface {
	// FindRecoveryKeys returns a device's recovery keys, current and
	// retired, ordered by volume and protector.
	FindRecoveryKeys(ctx context.Context, deviceID uuid.UUID) ([]*EscrowedKey, error)
}
