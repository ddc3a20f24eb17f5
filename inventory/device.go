package inventory

import (
	"context"
	"slices"
	"strconv"
	"strings"
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
	// Verdict is the device's stored compliance: judged when a report
	// arrives or its school's policy changes, and marked unseen by
	// [DeviceStore.MarkUnseen].
	Verdict   Verdict
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeviceFilter selects devices. Results are ordered by Sort, then by ID
// (a UUIDv7, which follows creation time).
type DeviceFilter struct {
	// SchoolIDs limits the result to these schools. A nil slice means every
	// school; an empty, non-nil slice means none.
	SchoolIDs []uuid.UUID
	// Search keeps devices whose hostname, serial number or logged-in
	// user contains it, ignoring case; empty keeps all.
	Search string
	// Status keeps devices whose Verdict.Status is this; empty keeps all.
	Status string
	// FailingRule keeps devices whose verdict fails this rule.
	FailingRule string
	// DueBy, when not zero, keeps devices due to be judged at that time:
	// never judged, or whose Verdict.Until is at or before it.
	DueBy time.Time
	// SeenBefore keeps devices last seen before it, or never seen;
	// SeenSince keeps devices last seen at or after it. Zero: no bound.
	SeenBefore time.Time
	SeenSince  time.Time
	// Sort orders the result; the zero value orders by ID.
	Sort DeviceSort
	// After is the keyset cursor: the ID of the last device of the
	// previous page, and AfterKey that device's sort key
	// ([Device.SortKey]); only devices after it in the order are returned.
	After    uuid.UUID
	AfterKey string
	// Limit caps the number returned; zero or less means DefaultPageSize.
	Limit int
}

// DeviceSort is an order of the device list.
type DeviceSort string

// Device orders. Text keys sort ignoring case; devices without a key
// (never seen, no serial) come last in every order.
const (
	SortByID       DeviceSort = ""
	SortByHostname DeviceSort = "hostname"
	SortBySerial   DeviceSort = "serial"
	SortByLastSeen DeviceSort = "last_seen" // most recently seen first
	SortByStatus   DeviceSort = "status"    // noncompliant, unknown, compliant
)

// DeviceSorts lists the orders the device list offers.
var DeviceSorts = []DeviceSort{SortByID, SortByHostname, SortBySerial, SortByLastSeen, SortByStatus}

// Validate returns an EINVALID error naming an unknown sort, status or
// failing rule in f. Stores check the cursor against the sort themselves.
func (f DeviceFilter) Validate() error {
	if !slices.Contains(DeviceSorts, f.Sort) {
		names := make([]string, len(DeviceSorts))
		for i, s := range DeviceSorts {
			names[i] = strconv.Quote(string(s))
		}
		return Errorf(EINVALID, "sort %q: use %s", f.Sort, strings.Join(names, ", "))
	}
	switch f.Status {
	case "", StatusCompliant, StatusNoncompliant, StatusUnknown:
	default:
		return Errorf(EINVALID, "status %q: use %s, %s or %s", f.Status, StatusCompliant, StatusNoncompliant, StatusUnknown)
	}
	if f.FailingRule != "" && !slices.Contains(Rules, f.FailingRule) {
		return Errorf(EINVALID, "failing rule %q: use one of %s", f.FailingRule, strings.Join(Rules, ", "))
	}
	return nil
}

// SortKey returns d's key in order s, as [DeviceFilter.AfterKey] takes it:
// the lower-cased hostname or serial, the last-seen time as fixed-width
// UTC text (2006-01-02T15:04:05.000000Z), or the status's rank ("0"
// noncompliant, "1" unknown, "2" compliant, "3" not yet judged). It is
// "" for the ID order and for a device without that key.
func (d *Device) SortKey(s DeviceSort) string {
	switch s {
	case SortByHostname:
		return strings.ToLower(d.Hostname)
	case SortBySerial:
		return strings.ToLower(d.Serial)
	case SortByLastSeen:
		if d.LastSeenAt.IsZero() {
			return ""
		}
		return d.LastSeenAt.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
	case SortByStatus:
		return StatusRank(d.Verdict.Status)
	}
	return ""
}

// StatusRank is the sort key of a compliance status: worst first.
func StatusRank(status string) string {
	switch status {
	case StatusNoncompliant:
		return "0"
	case StatusUnknown:
		return "1"
	case StatusCompliant:
		return "2"
	}
	return "3"
}

// DeviceCounts summarises the devices a filter selects.
type DeviceCounts struct {
	Total        int
	Compliant    int
	Noncompliant int
	Unknown      int            // unknown, or not yet judged
	Unseen       int            // last seen before the cutoff given, or never
	Unjudged     int            // not judged yet (counted in Unknown too)
	Failing      map[string]int // rule -> devices failing it; every rule in Rules is present
	Unknowns     map[string]int // rule -> devices it cannot be judged on; every rule in Rules is present
}

// NewDeviceCounts returns the counts of no devices, with every rule in
// [Rules] present in Failing and Unknowns.
func NewDeviceCounts() DeviceCounts {
	c := DeviceCounts{Failing: make(map[string]int, len(Rules)), Unknowns: make(map[string]int, len(Rules))}
	for _, r := range Rules {
		c.Failing[r], c.Unknowns[r] = 0, 0
	}
	return c
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
	// Verdict, with a full report, is the report judged against the
	// school's policy at At, and is stored with it. On a heartbeat the
	// store keeps the stored verdict but clears a seen_recently failure
	// ([Verdict.Seen]), since the device has now been seen.
	Verdict Verdict
}

// ReportRequiredError is the EREPORTREQUIRED error of a heartbeat whose
// hash is not the one stored for its device.
func (c CheckIn) ReportRequiredError() error {
	return Errorf(EREPORTREQUIRED, "report hash %q is not the one stored for device %s: send the full report", c.Hash, c.DeviceID)
}

// CheckHeartbeats returns EINVALID if any of cs carries a report.
func CheckHeartbeats(cs []CheckIn) error {
	for i, c := range cs {
		if c.Report != nil {
			return Errorf(EINVALID, "check-in %d of %d carries a report: only heartbeats are recorded in a batch", i+1, len(cs))
		}
	}
	return nil
}

// CheckReports returns EINVALID unless each of cs carries a report.
func CheckReports(cs []CheckIn) error {
	for i, c := range cs {
		if c.Report == nil {
			return Errorf(EINVALID, "check-in %d of %d carries no report", i+1, len(cs))
		}
	}
	return nil
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
	// RecordHeartbeats notes heartbeats (check-ins without a report) in
	// one transaction, as RecordCheckIn would note each alone, and returns
	// an error per check-in, in order: nil, EREPORTREQUIRED or ENOTFOUND.
	// A check-in with a report is refused with EINVALID. The second result
	// is an error of the whole batch, of which nothing was written.
	RecordHeartbeats(ctx context.Context, cs []CheckIn) ([]error, error)
	// RecordReports records full reports in one transaction, each as
	// RecordCheckIn would, or none of them: the error of the first that
	// fails is returned and nothing is written. A check-in without a
	// report is refused with EINVALID.
	RecordReports(ctx context.Context, cs []CheckIn) error
	// FindLatestPosture returns the newest posture snapshot of a device, or
	// ENOTFOUND when it has none.
	FindLatestPosture(ctx context.Context, deviceID uuid.UUID) (*PostureSnapshot, error)
	// FindPostureSnapshots returns a device's posture snapshots, newest
	// first, at most limit of them (DefaultPageSize when zero or less).
	FindPostureSnapshots(ctx context.Context, deviceID uuid.UUID, limit int) ([]*PostureSnapshot, error)
	// CountDevices counts the devices f selects (ignoring its cursor,
	// limit and sort); Unseen counts those last seen before unseenBefore
	// or never seen.
	CountDevices(ctx context.Context, f DeviceFilter, unseenBefore time.Time) (DeviceCounts, error)
	// CountDevicesBySchool counts the devices f selects as CountDevices
	// does, in one pass, grouped by school: each entry equals
	// CountDevices with that school alone. A school with no selected
	// device has no entry. Returns EINVALID as CountDevices does.
	CountDevicesBySchool(ctx context.Context, f DeviceFilter, unseenBefore time.Time) (map[uuid.UUID]DeviceCounts, error)
	// CountDevicesUpTo counts the devices f selects (ignoring its cursor,
	// limit and sort), but stops at max+1, so that a list can say "more
	// than max" without counting a whole fleet.
	CountDevicesUpTo(ctx context.Context, f DeviceFilter, max int) (int, error)
	// SetDeviceVerdict replaces a device's stored verdict. Returns
	// ENOTFOUND.
	SetDeviceVerdict(ctx context.Context, id uuid.UUID, v Verdict) error
	// MarkUnseen adds the seen_recently rule to the failing rules of
	// every device of the school last seen before before whose verdict
	// does not fail it yet, making it noncompliant, and returns how many
	// it changed. A device never seen is left alone (its verdict already
	// says so).
	MarkUnseen(ctx context.Context, schoolID uuid.UUID, before time.Time) (int, error)
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
