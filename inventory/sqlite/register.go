package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// CreateAsset stores a, filling ID, CreatedAt (when zero) and UpdatedAt
// (CreatedAt when zero). Returns EINVALID from [inventory.Asset.Validate],
// ECONFLICT naming the serial or asset tag already used in the school or
// for status on_loan (set only by a loan's hand-over), and ENOTFOUND for
// an unknown school or device.
func (db *DB) CreateAsset(ctx context.Context, a *inventory.Asset) error {
	v, err := db.newAsset(a)
	if err != nil {
		return err
	}
	if err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
			return err
		}
		return insertAsset(ctx, tx, v)
	}); err != nil {
		return err
	}
	*a = *v
	return nil
}

// newAsset checks a and returns a copy ready to insert.
func (db *DB) newAsset(a *inventory.Asset) (*inventory.Asset, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if a.Status == inventory.AssetOnLoan {
		return nil, inventory.ErrOnLoanByStatus(a)
	}
	v := *a
	if err := fillID(&v.ID); err != nil {
		return nil, err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = v.CreatedAt
	}
	normalizeAsset(&v)
	return &v, nil
}

// normalizeAsset sets a's times and dates as they will read back.
func normalizeAsset(a *inventory.Asset) {
	a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
	a.PurchaseDate = midnightUTC(a.PurchaseDate)
	a.WarrantyEnd = midnightUTC(a.WarrantyEnd)
	a.OSEndOfSupport = midnightUTC(a.OSEndOfSupport)
}

// assetKeys returns the derived columns of a: its sort keys, its lowered
// location and its lowered search text.
func assetKeys(a *inventory.Asset) []any {
	search := strings.ToLower(strings.Join([]string{a.Make, a.Model, a.Serial, a.AssetTag, a.Location, a.AssignedTo, a.Notes}, "\n"))
	return []any{
		a.SortKey(inventory.AssetsByAssetTag), a.SortKey(inventory.AssetsBySerial), a.SortKey(inventory.AssetsByModel),
		strings.ToLower(a.Location), search,
	}
}

// assetArgs returns the values of a's columns in the order of
// assetColumns, then its derived columns.
func assetArgs(a *inventory.Asset) []any {
	return append([]any{
		a.ID, a.SchoolID, string(a.Kind), a.Make, a.Model, a.Serial, a.AssetTag, string(a.Status), a.Location,
		encodeDate(a.PurchaseDate), a.PurchaseCost, a.Supplier, encodeDate(a.WarrantyEnd), encodeDate(a.OSEndOfSupport),
		a.Notes, a.AssignedTo, a.Shared, nullUUID(a.DeviceID), encodeTime(a.CreatedAt), encodeTime(a.UpdatedAt),
	}, assetKeys(a)...)
}

// insertAssetSQL inserts the values of assetArgs.
var insertAssetSQL = `INSERT INTO assets (` + assetColumns + `,
		asset_tag_key, serial_key, model_key, location_key, search_key)
	VALUES (` + qmarks(25) + `)`

// insertAsset inserts a, which is checked and normalised.
func insertAsset(ctx context.Context, tx *sql.Tx, a *inventory.Asset) error {
	if _, err := tx.ExecContext(ctx, insertAssetSQL, assetArgs(a)...); err != nil {
		return assetError(err, a)
	}
	return nil
}

// assetError names the serial, asset tag or device that a uniqueness
// violation on a clashed over, or returns err wrapped.
func assetError(err error, a *inventory.Asset) error {
	what, ok := uniqueViolation(err)
	switch {
	case !ok:
		return fmt.Errorf("store asset: %w", err)
	case strings.Contains(what, "assets.serial") || strings.Contains(what, "assets_school_serial_key"):
		return inventory.Errorf(inventory.ECONFLICT, "serial %q is already in this school's register", a.Serial)
	case strings.Contains(what, "assets.asset_tag") || strings.Contains(what, "assets_school_asset_tag_key"):
		return inventory.Errorf(inventory.ECONFLICT, "asset tag %q is already in this school's register", a.AssetTag)
	case strings.Contains(what, "assets.device_id"):
		return inventory.Errorf(inventory.ECONFLICT, "device %s is already linked to another register entry", a.DeviceID)
	}
	return inventory.Errorf(inventory.ECONFLICT, "register entry %s already exists", a.ID)
}

// UpdateAsset replaces a stored entry's fields but its school, device
// link and CreatedAt, which it copies into a, and sets UpdatedAt. It
// refuses with ECONFLICT to change disposed kit, whose entry is
// read-only, to set status on_loan or disposed (DisposeAsset sets that),
// or to change the status of kit that a loan has on loan. Returns
// EINVALID, ECONFLICT (also for a serial or asset tag used by another
// entry) and ENOTFOUND.
func (db *DB) UpdateAsset(ctx context.Context, a *inventory.Asset) error {
	if err := a.Validate(); err != nil {
		return err
	}
	v := *a
	v.UpdatedAt = db.now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		old, err := findAssetByID(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if old.Status == inventory.AssetDisposed {
			return inventory.Errorf(inventory.ECONFLICT, "%s is disposed: its register entry is read-only", old.Label())
		}
		v.SchoolID, v.DeviceID, v.CreatedAt = old.SchoolID, old.DeviceID, old.CreatedAt
		normalizeAsset(&v)
		if v.Status != old.Status {
			switch v.Status {
			case inventory.AssetOnLoan:
				return inventory.ErrOnLoanByStatus(&v)
			case inventory.AssetDisposed:
				return inventory.Errorf(inventory.ECONFLICT,
					"to dispose of %s, record a disposal instead: it keeps the certificate and deletes the PINs", old.Label())
			}
			if err := refuseIfOnLoan(ctx, tx, old); err != nil {
				return err
			}
		}
		args := append([]any{
			string(v.Kind), v.Make, v.Model, v.Serial, v.AssetTag, string(v.Status), v.Location,
			encodeDate(v.PurchaseDate), v.PurchaseCost, v.Supplier, encodeDate(v.WarrantyEnd), encodeDate(v.OSEndOfSupport),
			v.Notes, v.AssignedTo, v.Shared, encodeTime(v.UpdatedAt),
		}, assetKeys(&v)...)
		_, err = tx.ExecContext(ctx, `UPDATE assets SET
				kind = ?, make = ?, model = ?, serial = ?, asset_tag = ?, status = ?, location = ?,
				purchase_date = ?, purchase_cost_pence = ?, supplier = ?, warranty_end = ?, os_end_of_support = ?,
				notes = ?, assigned_to = ?, shared = ?, updated_at = ?,
				asset_tag_key = ?, serial_key = ?, model_key = ?, location_key = ?, search_key = ?
			WHERE id = ?`, append(args, v.ID)...)
		if err != nil {
			return assetError(err, &v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// refuseIfOnLoan returns ECONFLICT when a loan has a on loan: only the
// loan's return changes its status.
func refuseIfOnLoan(ctx context.Context, tx *sql.Tx, a *inventory.Asset) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM loans WHERE asset_id = ? AND status = 'on_loan'`,
		a.ID).Scan(&n); err != nil {
		return fmt.Errorf("find open loan: %w", err)
	}
	if n > 0 {
		return inventory.Errorf(inventory.ECONFLICT,
			"%s is out on a loan: record its return before changing its status", a.Label())
	}
	return nil
}

// FindAssetByID returns ENOTFOUND if there is no such entry.
func (db *DB) FindAssetByID(ctx context.Context, id uuid.UUID) (*inventory.Asset, error) {
	var a *inventory.Asset
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		a, err = findAssetByID(ctx, tx, id)
		return err
	})
	return a, err
}

// FindAssetByDevice returns the entry linked to an agent's device, or
// ENOTFOUND.
func (db *DB) FindAssetByDevice(ctx context.Context, deviceID uuid.UUID) (*inventory.Asset, error) {
	var a *inventory.Asset
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		a, err = scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE device_id = ?`, deviceID))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "device %s is not in the register", deviceID)
		}
		return err
	})
	return a, err
}

func findAssetByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.Asset, error) {
	a, err := scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "register entry %s not found", id)
	}
	return a, err
}

// assetSortColumns are the key columns of the register's orders; the ID
// order has none. Entries without a key (”) come last, by ID.
var assetSortColumns = map[inventory.AssetSort]string{
	inventory.AssetsByID:       "",
	inventory.AssetsByAssetTag: "asset_tag_key",
	inventory.AssetsBySerial:   "serial_key",
	inventory.AssetsByModel:    "model_key",
}

// checkAssetFilter checks f, and its cursor key against its order.
func checkAssetFilter(f inventory.AssetFilter) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if assetSortColumns[f.Sort] == "" && f.AfterKey != "" {
		return inventory.Errorf(inventory.EINVALID, "after_key %q: the ID order has no key", f.AfterKey)
	}
	return nil
}

// assetFilter returns the conditions of f, adding their arguments to a.
// It leaves out the cursor. Serials and AssetTags, when both are given,
// keep entries that match either, as a check for duplicates wants.
func assetFilter(f inventory.AssetFilter, a *sqlArgs) []string {
	var where []string
	in := func(col string, n int, arg func(i int) any) string {
		marks := make([]string, n)
		for i := range n {
			marks[i] = a.add(arg(i))
		}
		return col + " IN (" + strings.Join(marks, ", ") + ")"
	}
	if f.SchoolIDs != nil {
		where = append(where, in("school_id", len(f.SchoolIDs), func(i int) any { return f.SchoolIDs[i] }))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+a.add(string(f.Kind)))
	}
	if f.Status != "" {
		where = append(where, "status = "+a.add(string(f.Status)))
	}
	if f.Location != "" {
		where = append(where, "location_key = "+a.add(strings.ToLower(f.Location)))
	}
	if f.Search != "" {
		where = append(where, `search_key LIKE `+a.add(containsPattern(f.Search))+` ESCAPE '\'`)
	}
	if f.Shared != nil {
		where = append(where, "shared = "+a.add(*f.Shared))
	}
	var ids []string
	if len(f.Serials) > 0 {
		ids = append(ids, in("serial", len(f.Serials), func(i int) any { return f.Serials[i] }))
	}
	if len(f.AssetTags) > 0 {
		ids = append(ids, in("asset_tag", len(f.AssetTags), func(i int) any { return f.AssetTags[i] }))
	}
	if len(ids) > 0 {
		where = append(where, "("+strings.Join(ids, " OR ")+")")
	}
	return where
}

// FindAssets returns a page of entries matching f, in the order f.Sort
// and then by ID. Returns EINVALID for an unknown kind, status or sort,
// or a cursor key given for the ID order.
func (db *DB) FindAssets(ctx context.Context, f inventory.AssetFilter) ([]*inventory.Asset, error) {
	if err := checkAssetFilter(f); err != nil {
		return nil, err
	}
	all := []*inventory.Asset{}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return all, nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		limit := f.PageLimit()
		for _, r := range assetRanges(f) {
			if len(all) >= limit {
				break
			}
			var a sqlArgs
			where := append(assetFilter(f, &a), r.where(&a)...)
			page, err := queryAssets(ctx, tx, whereClause(where)+" ORDER BY "+r.orderBy+" LIMIT "+a.add(limit-len(all)), a)
			if err != nil {
				return err
			}
			all = append(all, page...)
		}
		return nil
	})
	return all, err
}

// assetRanges returns the ranges of f's order after its cursor, in order:
// the entries that share the cursor's key and come after it by ID, those
// with keys after the cursor's, then those without a key, by ID.
func assetRanges(f inventory.AssetFilter) []keyRange {
	col := assetSortColumns[f.Sort]
	if col == "" {
		return []keyRange{{orderBy: "id", where: func(a *sqlArgs) []string {
			if f.After == uuid.Nil {
				return nil
			}
			return []string{"id > " + a.add(f.After)}
		}}}
	}
	var out []keyRange
	inTail := f.AfterKey == "" && f.After != uuid.Nil
	switch {
	case inTail:
	case f.AfterKey != "":
		out = append(out,
			keyRange{orderBy: "id", where: func(a *sqlArgs) []string {
				return []string{col + " = " + a.add(f.AfterKey), "id > " + a.add(f.After)}
			}},
			keyRange{orderBy: col + ", id", where: func(a *sqlArgs) []string {
				return []string{col + " > " + a.add(f.AfterKey)}
			}})
	default:
		out = append(out, keyRange{orderBy: col + ", id", where: func(a *sqlArgs) []string {
			return []string{col + " > ''"}
		}})
	}
	return append(out, keyRange{orderBy: "id", where: func(a *sqlArgs) []string {
		w := []string{col + " = ''"}
		if inTail {
			w = append(w, "id > "+a.add(f.After))
		}
		return w
	}})
}

// queryAssets reads the entries that rest selects: the query after FROM.
func queryAssets(ctx context.Context, tx *sql.Tx, rest string, args []any) ([]*inventory.Asset, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+assetColumns+` FROM assets`+rest, args...)
	if err != nil {
		return nil, fmt.Errorf("query assets: %w", err)
	}
	defer rows.Close()
	var all []*inventory.Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, a)
	}
	return all, rows.Err()
}

// CountAssets counts the entries f selects, ignoring its cursor, limit
// and sort; every status and kind has a count, zero or more. Returns
// EINVALID for an unknown kind or status.
func (db *DB) CountAssets(ctx context.Context, f inventory.AssetFilter) (inventory.AssetCounts, error) {
	f.Sort, f.After, f.AfterKey = inventory.AssetsByID, uuid.Nil, ""
	if err := f.Validate(); err != nil {
		return inventory.AssetCounts{}, err
	}
	c := inventory.AssetCounts{
		ByStatus: make(map[inventory.AssetStatus]int, len(inventory.AssetStatuses)),
		ByKind:   make(map[inventory.AssetKind]int, len(inventory.AssetKinds)),
	}
	for _, s := range inventory.AssetStatuses {
		c.ByStatus[s] = 0
	}
	for _, k := range inventory.AssetKinds {
		c.ByKind[k] = 0
	}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return c, nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var a sqlArgs
		rows, err := tx.QueryContext(ctx, `SELECT status, kind, count(*) FROM assets`+
			whereClause(assetFilter(f, &a))+` GROUP BY status, kind`, a...)
		if err != nil {
			return fmt.Errorf("count assets: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				status, kind string
				n            int
			)
			if err := rows.Scan(&status, &kind, &n); err != nil {
				return fmt.Errorf("count assets: %w", err)
			}
			c.Total += n
			c.ByStatus[inventory.AssetStatus(status)] += n
			c.ByKind[inventory.AssetKind(kind)] += n
		}
		return rows.Err()
	})
	if err != nil {
		return inventory.AssetCounts{}, err
	}
	return c, nil
}

// ImportAssets creates every entry of list in one transaction, filling
// each one's ID, CreatedAt and UpdatedAt as CreateAsset does: if any
// fails, none is stored and none is changed, and the error, with the code
// CreateAsset would return, names the entry by its index (1-based).
func (db *DB) ImportAssets(ctx context.Context, list []*inventory.Asset) error {
	vs := make([]*inventory.Asset, len(list))
	type key struct {
		school uuid.UUID
		v      string
	}
	serials, tags := map[key]int{}, map[key]int{}
	for i, a := range list {
		v, err := db.newAsset(a)
		if err != nil {
			return entryError(i, err)
		}
		if j, ok := serials[key{v.SchoolID, v.Serial}]; ok && v.Serial != "" {
			return inventory.Errorf(inventory.ECONFLICT, "entry %d: serial %q is given twice, also in entry %d", i+1, v.Serial, j+1)
		}
		if j, ok := tags[key{v.SchoolID, v.AssetTag}]; ok && v.AssetTag != "" {
			return inventory.Errorf(inventory.ECONFLICT, "entry %d: asset tag %q is given twice, also in entry %d", i+1, v.AssetTag, j+1)
		}
		serials[key{v.SchoolID, v.Serial}], tags[key{v.SchoolID, v.AssetTag}] = i, i
		vs[i] = v
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		schools := map[uuid.UUID]bool{}
		for i, v := range vs {
			if !schools[v.SchoolID] {
				if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
					return entryError(i, err)
				}
				schools[v.SchoolID] = true
			}
			if err := insertAsset(ctx, tx, v); err != nil {
				return entryError(i, formatError(err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, v := range vs {
		*list[i] = *v
	}
	return nil
}

// entryError prefixes a domain error with the 1-based index of the entry
// it is about; other errors are wrapped.
func entryError(i int, err error) error {
	var e *inventory.Error
	if errors.As(err, &e) {
		return inventory.Errorf(e.Code, "entry %d: %s", i+1, e.Message)
	}
	return fmt.Errorf("entry %d: %w", i+1, err)
}

const assetColumns = `id, school_id, kind, make, model, serial, asset_tag, status, location,
	purchase_date, purchase_cost_pence, supplier, warranty_end, os_end_of_support,
	notes, assigned_to, shared, device_id, created_at, updated_at`

func scanAsset(row rowScanner) (*inventory.Asset, error) {
	var (
		a            inventory.Asset
		kind, status string
	)
	err := row.Scan(&a.ID, &a.SchoolID, &kind, &a.Make, &a.Model, &a.Serial, &a.AssetTag, &status, &a.Location,
		dateScanner{&a.PurchaseDate}, &a.PurchaseCost, &a.Supplier, dateScanner{&a.WarrantyEnd}, dateScanner{&a.OSEndOfSupport},
		&a.Notes, &a.AssignedTo, &a.Shared, uuidScanner{&a.DeviceID}, timeScanner{&a.CreatedAt}, timeScanner{&a.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan asset: %w", err)
	}
	a.Kind, a.Status = inventory.AssetKind(kind), inventory.AssetStatus(status)
	return &a, nil
}

// The register entry made for a device whose agent enrols and that the
// register lacks.
const enrolledAssetNotes = "Added to the register when its agent enrolled."

// linkAsset links an enrolling device to its school's register entry with
// the same serial number, filling the entry's make and model when empty,
// or adds an entry for it when there is none. A device already linked, or
// without a serial, is left alone, and so is an entry linked to another
// device: enrolment never fails, nor makes a duplicate, for the register.
func linkAsset(ctx context.Context, tx *sql.Tx, d *inventory.Device, h *inventory.Hardware, at time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM assets WHERE device_id = ?`, d.ID).Scan(&n); err != nil {
		return fmt.Errorf("find device's asset: %w", err)
	} else if n > 0 {
		return nil
	}
	serial := registerText(d.Serial)
	if serial == "" {
		return nil
	}
	a, err := scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE school_id = ? AND serial = ?`,
		d.SchoolID, serial))
	switch {
	case err == nil && a.DeviceID != uuid.Nil:
		return nil
	case err == nil:
		if a.Make == "" {
			a.Make = registerText(h.Make)
		}
		if a.Model == "" {
			a.Model = registerText(h.Model)
		}
		a.DeviceID = d.ID
		args := append([]any{d.ID, a.Make, a.Model, encodeTime(at)}, assetKeys(a)...)
		if _, err := tx.ExecContext(ctx, `UPDATE assets SET device_id = ?, make = ?, model = ?, updated_at = ?,
				asset_tag_key = ?, serial_key = ?, model_key = ?, location_key = ?, search_key = ?
			WHERE id = ?`, append(args, a.ID)...); err != nil {
			return fmt.Errorf("link asset: %w", err)
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	id, err := newID()
	if err != nil {
		return err
	}
	a = &inventory.Asset{
		ID: id, SchoolID: d.SchoolID, Kind: inventory.DeviceKind(*h),
		Make: registerText(h.Make), Model: registerText(h.Model), Serial: serial,
		Status: inventory.AssetInStock, Notes: enrolledAssetNotes, DeviceID: d.ID,
		CreatedAt: utc(at), UpdatedAt: utc(at),
	}
	if a.Validate() != nil {
		return nil
	}
	// DO NOTHING: an entry with the serial added meanwhile is kept.
	if _, err := tx.ExecContext(ctx, insertAssetSQL+` ON CONFLICT DO NOTHING`, assetArgs(a)...); err != nil {
		return fmt.Errorf("add asset: %w", err)
	}
	return nil
}

// registerText returns s as a register entry's field holds it: without
// spaces at the ends and cut to the field's length.
func registerText(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxRegisterText {
		s = strings.TrimSpace(string(r[:maxRegisterText]))
	}
	return s
}

// maxRegisterText is the longest text field [inventory.Asset.Validate]
// accepts.
const maxRegisterText = 200
