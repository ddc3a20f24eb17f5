package inventory

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// AssetKind is what sort of kit a register entry is.
type AssetKind string

// Kinds of kit.
const (
	KindLaptop    AssetKind = "laptop"
	KindDesktop   AssetKind = "desktop"
	KindTablet    AssetKind = "tablet" // iPads and other tablets
	KindPhone     AssetKind = "phone"
	KindCamera    AssetKind = "camera"
	KindProjector AssetKind = "projector"
	KindOther     AssetKind = "other"
)

// AssetKinds lists every kind, in the order pages offer them.
var AssetKinds = []AssetKind{KindLaptop, KindDesktop, KindTablet, KindPhone, KindCamera, KindProjector, KindOther}

// AssetStatus is where a register entry stands.
type AssetStatus string

// Statuses of kit.
const (
	AssetInStock  AssetStatus = "in_stock"
	AssetOnLoan   AssetStatus = "on_loan"  // set only by a loan's hand-over
	AssetAssigned AssetStatus = "assigned" // given to a person or room without a loan
	AssetInRepair AssetStatus = "in_repair"
	AssetLost     AssetStatus = "lost"
	AssetRetired  AssetStatus = "retired"
	AssetDisposed AssetStatus = "disposed"
)

// AssetStatuses lists every status, in the order pages offer them.
var AssetStatuses = []AssetStatus{AssetInStock, AssetOnLoan, AssetAssigned, AssetInRepair, AssetLost, AssetRetired, AssetDisposed}

// Lendable reports whether kit with this status may go out on a loan or
// a day sign-out: only kit in stock. Kit in repair, assigned, lost,
// retired or disposed, or on a loan already, may not.
func (s AssetStatus) Lendable() bool {
	return s == AssetInStock
}

// ParseAssetKind returns the kind named s (case and spaces ignored, and
// "ipad" and "tablet" both mean KindTablet), or EINVALID naming the kinds.
func ParseAssetKind(s string) (AssetKind, error) {
	k := AssetKind(strings.ToLower(strings.TrimSpace(s)))
	if k == "ipad" {
		k = KindTablet
	}
	if slices.Contains(AssetKinds, k) {
		return k, nil
	}
	return "", Errorf(EINVALID, "kind %q: use %s", s, joinQuoted(AssetKinds))
}

// ParseAssetStatus returns the status named s: its name, or the words of
// its name ("in stock", "In Repair"), case ignored; or EINVALID naming the
// statuses.
func ParseAssetStatus(s string) (AssetStatus, error) {
	st := AssetStatus(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_"))
	if slices.Contains(AssetStatuses, st) {
		return st, nil
	}
	return "", Errorf(EINVALID, "status %q: use %s", s, joinQuoted(AssetStatuses))
}

func joinQuoted[T ~string](list []T) string {
	names := make([]string, len(list))
	for i, v := range list {
		names[i] = strconv.Quote(string(v))
	}
	return strings.Join(names, ", ")
}

// Asset is one entry in a school's hardware register: any kit the school
// owns, whether or not an agent reports on it. A laptop whose agent enrols
// is linked to its entry by serial number (DeviceID).
//
// Dates without a time (PurchaseDate, WarrantyEnd, OSEndOfSupport) are
// midnight UTC, or zero when not recorded.
type Asset struct {
	ID             uuid.UUID
	SchoolID       uuid.UUID
	Kind           AssetKind
	Make           string
	Model          string
	Serial         string // unique within the school when not empty
	AssetTag       string // unique within the school when not empty
	Status         AssetStatus
	Location       string
	PurchaseDate   time.Time
	PurchaseCost   int64 // in pence; 0 when not recorded
	Supplier       string
	WarrantyEnd    time.Time
	OSEndOfSupport time.Time
	Notes          string
	// AssignedTo is who holds kit that is assigned without a loan, as
	// recorded (often an email address from an import).
	AssignedTo string
	// Shared marks kit kept in a trolley or cabinet and signed out for
	// the day ([SignOut]) rather than lent.
	Shared bool
	// DeviceID is the agent-reported device this entry is, or uuid.Nil.
	DeviceID  uuid.UUID
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Field limits of an asset.
const (
	maxAssetText  = 200
	maxAssetNotes = 4000
)

// Validate checks an entry's fields, naming the first problem.
func (a *Asset) Validate() error {
	if !slices.Contains(AssetKinds, a.Kind) {
		return Errorf(EINVALID, "kind %q: use %s", a.Kind, joinQuoted(AssetKinds))
	}
	if !slices.Contains(AssetStatuses, a.Status) {
		return Errorf(EINVALID, "status %q: use %s", a.Status, joinQuoted(AssetStatuses))
	}
	if a.Serial == "" && a.AssetTag == "" {
		return Errorf(EINVALID, "give a serial number or an asset tag, so the kit can be found again")
	}
	for _, f := range []struct{ name, v string }{
		{"make", a.Make}, {"model", a.Model}, {"serial", a.Serial}, {"asset tag", a.AssetTag},
		{"location", a.Location}, {"supplier", a.Supplier}, {"assigned to", a.AssignedTo},
	} {
		if utf8.RuneCountInString(f.v) > maxAssetText {
			return Errorf(EINVALID, "%s: at most %d characters", f.name, maxAssetText)
		}
		if strings.TrimSpace(f.v) != f.v {
			return Errorf(EINVALID, "%s %q: remove the spaces at the start or end", f.name, f.v)
		}
	}
	if utf8.RuneCountInString(a.Notes) > maxAssetNotes {
		return Errorf(EINVALID, "notes: at most %d characters", maxAssetNotes)
	}
	if a.PurchaseCost < 0 {
		return Errorf(EINVALID, "purchase cost: give an amount of zero or more")
	}
	return nil
}

// ErrOnLoanByStatus is the refusal to store kit as on loan other than by
// a loan's hand-over.
func ErrOnLoanByStatus(a *Asset) error {
	return Errorf(ECONFLICT, "%s: only a loan's hand-over puts kit on loan: record the loan instead", a.Label())
}

// Label names the kit for people: "Dell Latitude 5440 (serial ABC123,
// asset tag ST-0042)".
func (a *Asset) Label() string {
	name := strings.TrimSpace(a.Make + " " + a.Model)
	if name == "" {
		name = string(a.Kind)
	}
	var ids []string
	if a.Serial != "" {
		ids = append(ids, "serial "+a.Serial)
	}
	if a.AssetTag != "" {
		ids = append(ids, "asset tag "+a.AssetTag)
	}
	if len(ids) == 0 {
		return name
	}
	return name + " (" + strings.Join(ids, ", ") + ")"
}

// AssetSort is an order of the register.
type AssetSort string

// Register orders; text keys sort ignoring case, entries without a key
// come last.
const (
	AssetsByID       AssetSort = ""
	AssetsByAssetTag AssetSort = "asset_tag"
	AssetsBySerial   AssetSort = "serial"
	AssetsByModel    AssetSort = "model"
)

// AssetSorts lists the orders the register offers.
var AssetSorts = []AssetSort{AssetsByID, AssetsByAssetTag, AssetsBySerial, AssetsByModel}

// AssetFilter selects register entries. Results are ordered by Sort, then
// by ID.
type AssetFilter struct {
	// SchoolIDs: nil means every school, empty non-nil means none.
	SchoolIDs []uuid.UUID
	Kind      AssetKind   // empty keeps all
	Status    AssetStatus // empty keeps all
	// Location keeps entries whose location equals it, ignoring case.
	Location string
	// Search keeps entries whose make, model, serial, asset tag, location,
	// assigned-to or notes contain it, ignoring case.
	Search string
	// Shared, when not nil, keeps shared (trolley) kit or the rest.
	Shared *bool
	// Serials and AssetTags, when either is given, keep entries whose
	// serial number is one of Serials or whose asset tag is one of
	// AssetTags (exact). Used to find duplicates before an import.
	Serials   []string
	AssetTags []string
	// Sort, After and AfterKey page through the result as in
	// [DeviceFilter].
	Sort     AssetSort
	After    uuid.UUID
	AfterKey string
	Limit    int // zero or less: DefaultPageSize; at most MaxPageSize
}

// Validate returns an EINVALID error naming an unknown kind, status or sort.
func (f AssetFilter) Validate() error {
	if f.Kind != "" && !slices.Contains(AssetKinds, f.Kind) {
		return Errorf(EINVALID, "kind %q: use %s", f.Kind, joinQuoted(AssetKinds))
	}
	if f.Status != "" && !slices.Contains(AssetStatuses, f.Status) {
		return Errorf(EINVALID, "status %q: use %s", f.Status, joinQuoted(AssetStatuses))
	}
	if !slices.Contains(AssetSorts, f.Sort) {
		return Errorf(EINVALID, "sort %q: use %s", f.Sort, joinQuoted(AssetSorts))
	}
	return nil
}

// PageLimit returns the effective limit of f.
func (f AssetFilter) PageLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultPageSize
	case f.Limit > MaxPageSize:
		return MaxPageSize
	}
	return f.Limit
}

// SortKey returns a's key in order s, as [AssetFilter.AfterKey] takes it:
// the lower-cased asset tag, serial, or make and model; "" for the ID
// order.
func (a *Asset) SortKey(s AssetSort) string {
	switch s {
	case AssetsByAssetTag:
		return strings.ToLower(a.AssetTag)
	case AssetsBySerial:
		return strings.ToLower(a.Serial)
	case AssetsByModel:
		return strings.ToLower(strings.TrimSpace(a.Make + " " + a.Model))
	}
	return ""
}

// AssetCounts counts a school's kit by status and kind.
type AssetCounts struct {
	Total    int
	ByStatus map[AssetStatus]int
	ByKind   map[AssetKind]int
}

// RegisterStore keeps the hardware register.
type RegisterStore interface {
	// CreateAsset stores a, filling ID, CreatedAt and UpdatedAt. Returns
	// EINVALID from [Asset.Validate], ECONFLICT naming the serial or
	// asset tag already used in the school or for the status AssetOnLoan
	// (only a loan's hand-over sets it), and ENOTFOUND for an unknown
	// school.
	CreateAsset(ctx context.Context, a *Asset) error
	// UpdateAsset replaces a stored entry's fields (not its school,
	// device link or CreatedAt) and sets UpdatedAt. Disposed kit is
	// read-only: ECONFLICT. Only [DisposalStore.DisposeAsset] sets the
	// status AssetDisposed. It refuses to set
	// AssetOnLoan, or to change the status of kit a loan has handed over,
	// with ECONFLICT: loans move that status. (Kit a request waits for may
	// still be marked lost or retired; the loan's next step is then
	// refused.) Returns EINVALID, ECONFLICT and ENOTFOUND.
	UpdateAsset(ctx context.Context, a *Asset) error
	// FindAssetByID returns ENOTFOUND if there is no such entry.
	FindAssetByID(ctx context.Context, id uuid.UUID) (*Asset, error)
	// FindAssetByDevice returns the entry linked to an agent's device, or
	// ENOTFOUND.
	FindAssetByDevice(ctx context.Context, deviceID uuid.UUID) (*Asset, error)
	// FindAssets returns a page of entries matching f.
	FindAssets(ctx context.Context, f AssetFilter) ([]*Asset, error)
	// CountAssets counts the entries f selects, ignoring its cursor,
	// limit and sort.
	CountAssets(ctx context.Context, f AssetFilter) (AssetCounts, error)
	// ImportAssets creates every entry in one transaction: if any fails
	// (EINVALID, ECONFLICT), none is stored, and the error names the
	// entry by its index (1-based) in list.
	ImportAssets(ctx context.Context, list []*Asset) error
}

// DeviceKind guesses a register kind from an agent's hardware report:
// desktop for a desktop chassis, else laptop.
func DeviceKind(h Hardware) AssetKind {
	c := strings.ToLower(h.ChassisType)
	if strings.Contains(c, "desktop") || strings.Contains(c, "tower") {
		return KindDesktop
	}
	return KindLaptop
}
