package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// SetPIN stores r as the asset's current record of its kind, in one
// transaction with its log entry: a record of that kit and kind that
// exists already keeps its ID, its value going to the history as
// replaced at r.SetAt, and is retired no more. Fills r's ID, SchoolID
// (the kit's) and SetAt (the store's time, when zero), and the entry's
// ID, At, school, kit, kind, action "set" and actor (r.SetBy) when zero.
// Returns EINVALID for an unknown kind, no value, kit of another school
// than r.SchoolID or an entry about other kit; ECONFLICT for disposed
// kit; ENOTFOUND for unknown kit or person.
func (db *DB) SetPIN(ctx context.Context, r *inventory.PINRecord, log *inventory.PINLogEntry) error {
	v := *r
	if v.SetAt.IsZero() {
		v.SetAt = db.now()
	}
	v.SetAt, v.RetiredAt = utc(v.SetAt), time.Time{}
	if err := v.Validate(); err != nil {
		return err
	}
	e, err := db.pinSetEntry(log, &v)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		a, err := findAssetByID(ctx, tx, v.AssetID)
		if err != nil {
			return err
		}
		if err := inventory.CheckPINAsset(&v.SchoolID, a); err != nil {
			return err
		}
		if e.SchoolID != uuid.Nil && e.SchoolID != v.SchoolID {
			return inventory.Errorf(inventory.EINVALID, "PIN log entry: of another school than the record")
		}
		e.SchoolID = v.SchoolID
		if _, err := findUserByID(ctx, tx, v.SetBy); err != nil {
			return err
		}
		if e.ActorID != uuid.Nil && e.ActorID != v.SetBy {
			if _, err := findUserByID(ctx, tx, e.ActorID); err != nil {
				return err
			}
		}
		old, err := findPINRecord(ctx, tx, v.AssetID, v.Kind)
		switch {
		case inventory.ErrorCode(err) == inventory.ENOTFOUND:
			if err := fillID(&v.ID); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO pin_records (`+pinRecordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
				v.ID, v.SchoolID, v.AssetID, string(v.Kind), v.Sealed, v.SetBy, encodeTime(v.SetAt))
			if _, ok := uniqueViolation(err); ok {
				return inventory.Errorf(inventory.ECONFLICT, "PIN record %s already exists", v.ID)
			} else if err != nil {
				return fmt.Errorf("insert pin record: %w", err)
			}
		case err != nil:
			return err
		default:
			v.ID = old.ID
			_, err = tx.ExecContext(ctx, `INSERT INTO pin_history (record_id, sealed, set_by, set_at, replaced_at)
				VALUES (?, ?, ?, ?, ?)`, old.ID, old.Sealed, old.SetBy, encodeTime(old.SetAt), encodeTime(v.SetAt))
			if _, ok := uniqueViolation(err); ok {
				return inventory.Errorf(inventory.ECONFLICT, "the %s of %s was changed at %s already",
					pinKindName(v.Kind), a.Label(), v.SetAt.Format(time.RFC3339Nano))
			} else if err != nil {
				return fmt.Errorf("keep old pin value: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE pin_records SET sealed = ?, set_by = ?, set_at = ?, retired_at = NULL
				WHERE id = ?`, v.Sealed, v.SetBy, encodeTime(v.SetAt), v.ID); err != nil {
				return fmt.Errorf("update pin record: %w", err)
			}
		}
		return insertPINLog(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	*r = v
	if log != nil {
		*log = *e
	}
	return nil
}

// pinKindName returns a kind as words ("device passcode").
func pinKindName(k inventory.PINKind) string {
	return strings.ReplaceAll(string(k), "_", " ")
}

// pinSetEntry returns the "set" log entry of record r: a copy of log (an
// empty entry when nil) with r's kit, kind and SetAt, the action "set"
// and the actor r.SetBy filled when zero, and its ID. Returns EINVALID
// for an entry about other kit or another kind, or of another action.
func (db *DB) pinSetEntry(log *inventory.PINLogEntry, r *inventory.PINRecord) (*inventory.PINLogEntry, error) {
	var e inventory.PINLogEntry
	if log != nil {
		e = *log
	}
	switch {
	case e.AssetID != uuid.Nil && e.AssetID != r.AssetID:
		return nil, inventory.Errorf(inventory.EINVALID, "PIN log entry: about other kit than the record")
	case e.Kind != "" && e.Kind != r.Kind:
		return nil, inventory.Errorf(inventory.EINVALID, "PIN log entry: about another kind than the record")
	case e.Action != "" && e.Action != inventory.PINActionSet:
		return nil, inventory.Errorf(inventory.EINVALID, "PIN log entry: a record is stored with a %q entry, not %q",
			inventory.PINActionSet, e.Action)
	}
	e.AssetID, e.Kind, e.Action = r.AssetID, r.Kind, inventory.PINActionSet
	if e.ActorID == uuid.Nil {
		e.ActorID = r.SetBy
	}
	if e.At.IsZero() {
		e.At = r.SetAt
	}
	if err := db.fillPINEntry(&e); err != nil {
		return nil, err
	}
	return &e, nil
}

// fillPINEntry fills e's ID and At (the store's time) when zero, sets At
// as it will read back and fits its text.
func (db *DB) fillPINEntry(e *inventory.PINLogEntry) error {
	if err := fillID(&e.ID); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = db.now()
	}
	e.At = utc(e.At)
	e.Fit()
	return nil
}

// insertPINLog appends e, whose school, kit and actor the caller checked.
func insertPINLog(ctx context.Context, tx *sql.Tx, e *inventory.PINLogEntry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO pin_log (`+pinLogColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.SchoolID, e.AssetID, string(e.Kind), e.Action, nullUUID(e.ActorID), encodeTime(e.At), e.Reason, e.Addr)
	if _, ok := uniqueViolation(err); ok {
		return inventory.Errorf(inventory.ECONFLICT, "PIN log entry %s already exists", e.ID)
	} else if err != nil {
		return fmt.Errorf("insert pin log entry: %w", err)
	}
	return nil
}

// FindPINRecord returns the asset's current record of a kind, retired or
// not, or ENOTFOUND.
func (db *DB) FindPINRecord(ctx context.Context, assetID uuid.UUID, kind inventory.PINKind) (*inventory.PINRecord, error) {
	var r *inventory.PINRecord
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		r, err = findPINRecord(ctx, tx, assetID, kind)
		return err
	})
	return r, err
}

func findPINRecord(ctx context.Context, tx *sql.Tx, assetID uuid.UUID, kind inventory.PINKind) (*inventory.PINRecord, error) {
	r, err := scanPINRecord(tx.QueryRowContext(ctx, `SELECT `+pinRecordColumns+` FROM pin_records
		WHERE asset_id = ? AND kind = ?`, assetID, string(kind)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "no %s is recorded for register entry %s", pinKindName(kind), assetID)
	}
	return r, err
}

// FindPINRecords returns every record of an asset, retired or not, in
// the order of [inventory.PINKinds]; none for unknown kit.
func (db *DB) FindPINRecords(ctx context.Context, assetID uuid.UUID) ([]*inventory.PINRecord, error) {
	var all []*inventory.PINRecord
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		all, err = findPINRecords(ctx, tx, assetID)
		return err
	})
	return all, err
}

func findPINRecords(ctx context.Context, tx *sql.Tx, assetID uuid.UUID) ([]*inventory.PINRecord, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+pinRecordColumns+` FROM pin_records WHERE asset_id = ?`, assetID)
	if err != nil {
		return nil, fmt.Errorf("query pin records: %w", err)
	}
	defer rows.Close()
	all := []*inventory.PINRecord{}
	for rows.Next() {
		r, err := scanPINRecord(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query pin records: %w", err)
	}
	sortPINRecords(all)
	return all, nil
}

// sortPINRecords sorts records in the order of [inventory.PINKinds],
// any kind not listed last.
func sortPINRecords(all []*inventory.PINRecord) {
	rank := func(k inventory.PINKind) int {
		if i := slices.Index(inventory.PINKinds, k); i >= 0 {
			return i
		}
		return len(inventory.PINKinds)
	}
	slices.SortFunc(all, func(a, b *inventory.PINRecord) int {
		return cmp.Or(cmp.Compare(rank(a.Kind), rank(b.Kind)), strings.Compare(string(a.Kind), string(b.Kind)))
	})
}

const pinRecordColumns = `id, school_id, asset_id, kind, sealed, set_by, set_at, retired_at`

func scanPINRecord(row rowScanner) (*inventory.PINRecord, error) {
	var (
		r    inventory.PINRecord
		kind string
	)
	err := row.Scan(&r.ID, &r.SchoolID, &r.AssetID, &kind, &r.Sealed, &r.SetBy,
		timeScanner{&r.SetAt}, timeScanner{&r.RetiredAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan pin record: %w", err)
	}
	r.Kind = inventory.PINKind(kind)
	return &r, nil
}

// RetirePINRecords retires, at at (the store's time when zero), every
// record of an asset not yet retired, logging a "retire" entry by by
// (uuid.Nil: Rollcall itself) for each, and returns how many. Returns
// ENOTFOUND for unknown kit or person.
func (db *DB) RetirePINRecords(ctx context.Context, assetID, by uuid.UUID, at time.Time) (int, error) {
	if at.IsZero() {
		at = db.now()
	}
	at = utc(at)
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findAssetByID(ctx, tx, assetID); err != nil {
			return err
		}
		if by != uuid.Nil {
			if _, err := findUserByID(ctx, tx, by); err != nil {
				return err
			}
		}
		all, err := findPINRecords(ctx, tx, assetID)
		if err != nil {
			return err
		}
		for _, r := range all {
			if !r.RetiredAt.IsZero() {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE pin_records SET retired_at = ? WHERE id = ?`,
				encodeTime(at), r.ID); err != nil {
				return fmt.Errorf("retire pin record: %w", err)
			}
			e := &inventory.PINLogEntry{SchoolID: r.SchoolID, AssetID: r.AssetID, Kind: r.Kind,
				Action: inventory.PINActionRetire, ActorID: by, At: at}
			if err := db.fillPINEntry(e); err != nil {
				return err
			}
			if err := insertPINLog(ctx, tx, e); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// FindPINHistory returns the old values of a record, the last replaced
// first; none for an unknown record.
func (db *DB) FindPINHistory(ctx context.Context, recordID uuid.UUID) ([]*inventory.PINHistory, error) {
	all := []*inventory.PINHistory{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT record_id, sealed, set_by, set_at, replaced_at
			FROM pin_history WHERE record_id = ? ORDER BY replaced_at DESC`, recordID)
		if err != nil {
			return fmt.Errorf("query pin history: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h inventory.PINHistory
			if err := rows.Scan(&h.RecordID, &h.Sealed, &h.SetBy, timeScanner{&h.SetAt}, timeScanner{&h.ReplacedAt}); err != nil {
				return fmt.Errorf("scan pin history: %w", err)
			}
			all = append(all, &h)
		}
		return rows.Err()
	})
	return all, err
}

// purgePINHistory deletes the school's old PIN values replaced before
// before (expiredPINHistory) and, in the same transaction, logs a
// "purge" entry by Rollcall itself for each piece of kit that had some,
// saying how many; it returns how many it deleted. The counts read first
// are what the delete removes, as the transaction holds the database.
func (db *DB) purgePINHistory(ctx context.Context, tx *sql.Tx, schoolID uuid.UUID, before time.Time) (int, error) {
	type purged struct {
		assetID uuid.UUID
		n       int
	}
	rows, err := tx.QueryContext(ctx, `SELECT pin_records.asset_id, count(*)
		FROM pin_history JOIN pin_records ON pin_records.id = pin_history.record_id
		WHERE `+expiredPINHistory+` GROUP BY pin_records.asset_id ORDER BY pin_records.asset_id`,
		schoolID, encodeTime(before))
	if err != nil {
		return 0, fmt.Errorf("query old pin values: %w", err)
	}
	var all []purged
	for rows.Next() {
		var p purged
		if err := rows.Scan(&p.assetID, &p.n); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan old pin values: %w", err)
		}
		all = append(all, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("query old pin values: %w", err)
	}
	if len(all) == 0 {
		return 0, nil
	}
	total, err := deleteWhere(ctx, tx, "pin_history", expiredPINHistory, schoolID, encodeTime(before))
	if err != nil {
		return 0, err
	}
	at := db.now()
	for _, p := range all {
		e := &inventory.PINLogEntry{SchoolID: schoolID, AssetID: p.assetID, Action: inventory.PINActionPurge,
			At: at, Reason: purgeReason(p.n)}
		if err := db.fillPINEntry(e); err != nil {
			return 0, err
		}
		if err := insertPINLog(ctx, tx, e); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// purgeReason is the reason a purge entry gives for deleting n values.
func purgeReason(n int) string {
	if n == 1 {
		return "1 old value deleted at the end of its retention"
	}
	return fmt.Sprintf("%d old values deleted at the end of their retention", n)
}

// AppendPINLog adds an entry, filling ID and At (the store's time) when
// zero and SchoolID (the kit's) when zero. Returns EINVALID for an
// unknown action or kind, no kit, or kit of another school than
// e.SchoolID; ENOTFOUND for an unknown school, kit or actor.
func (db *DB) AppendPINLog(ctx context.Context, e *inventory.PINLogEntry) error {
	v := *e
	if err := checkPINEntry(&v); err != nil {
		return err
	}
	if err := db.fillPINEntry(&v); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if v.SchoolID != uuid.Nil {
			if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
				return err
			}
		}
		a, err := findAssetByID(ctx, tx, v.AssetID)
		if err != nil {
			return err
		}
		if v.SchoolID == uuid.Nil {
			v.SchoolID = a.SchoolID
		} else if a.SchoolID != v.SchoolID {
			return inventory.Errorf(inventory.EINVALID, "%s belongs to another school", a.Label())
		}
		if v.ActorID != uuid.Nil {
			if _, err := findUserByID(ctx, tx, v.ActorID); err != nil {
				return err
			}
		}
		return insertPINLog(ctx, tx, &v)
	})
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// pinActions lists the actions of the PIN log.
var pinActions = []string{inventory.PINActionSet, inventory.PINActionView, inventory.PINActionUse,
	inventory.PINActionRefused, inventory.PINActionRetire, inventory.PINActionPurge}

// checkPINEntry checks an entry's action, kind and kit.
func checkPINEntry(e *inventory.PINLogEntry) error {
	if !slices.Contains(pinActions, e.Action) {
		return inventory.Errorf(inventory.EINVALID, "PIN log action %q: use %s", e.Action, strings.Join(pinActions, ", "))
	}
	if e.Kind != "" {
		if _, err := inventory.ParsePINKind(string(e.Kind)); err != nil {
			return err
		}
	}
	if e.AssetID == uuid.Nil {
		return inventory.Errorf(inventory.EINVALID, "PIN log entry: say which kit it is about")
	}
	return nil
}

// FindPINLog returns the entries f selects, newest first: those of f's
// schools, kit and actor, at or after f.Since, and before the entry
// f.Before.
func (db *DB) FindPINLog(ctx context.Context, f inventory.PINLogFilter) ([]*inventory.PINLogEntry, error) {
	all := []*inventory.PINLogEntry{}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return all, nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var (
			a     sqlArgs
			where []string
		)
		if f.SchoolIDs != nil {
			marks := make([]string, len(f.SchoolIDs))
			for i, id := range f.SchoolIDs {
				marks[i] = a.add(id)
			}
			where = append(where, "school_id IN ("+strings.Join(marks, ", ")+")")
		}
		if f.AssetID != uuid.Nil {
			where = append(where, "asset_id = "+a.add(f.AssetID))
		}
		if f.ActorID != uuid.Nil {
			where = append(where, "actor_id = "+a.add(f.ActorID))
		}
		if !f.Since.IsZero() {
			where = append(where, "at >= "+a.add(encodeTime(f.Since)))
		}
		if f.Before != uuid.Nil {
			where = append(where, "id < "+a.add(f.Before))
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+pinLogColumns+` FROM pin_log`+whereClause(where)+
			` ORDER BY id DESC LIMIT `+a.add(f.PageLimit()), a...)
		if err != nil {
			return fmt.Errorf("query pin log: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e    inventory.PINLogEntry
				kind string
			)
			if err := rows.Scan(&e.ID, &e.SchoolID, &e.AssetID, &kind, &e.Action, uuidScanner{&e.ActorID},
				timeScanner{&e.At}, &e.Reason, &e.Addr); err != nil {
				return fmt.Errorf("scan pin log entry: %w", err)
			}
			e.Kind = inventory.PINKind(kind)
			all = append(all, &e)
		}
		return rows.Err()
	})
	return all, err
}

const pinLogColumns = `id, school_id, asset_id, kind, action, actor_id, at, reason, addr`

// SetSchoolPINSettings replaces a school's PIN settings, the network
// manager's address in lower case. Returns EINVALID for a network
// manager address that is not one, and ENOTFOUND.
func (db *DB) SetSchoolPINSettings(ctx context.Context, schoolID uuid.UUID, s inventory.PINSettings) error {
	if err := normalizePINSettings(&s); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schools SET pin_head_may_reveal = ?, pin_network_manager = ?,
			pin_digest_sent_at = ? WHERE id = ?`, s.HeadteacherMayReveal, s.NetworkManager, encodeTime(s.DigestSentAt), schoolID)
		if err != nil {
			return fmt.Errorf("set pin settings: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set pin settings: %w", err)
		} else if n == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s not found", schoolID)
		}
		return nil
	})
}

// normalizePINSettings checks the network manager's address, lowering
// it.
func normalizePINSettings(s *inventory.PINSettings) error {
	if s.NetworkManager != "" {
		email, err := inventory.NormalizeEmail(s.NetworkManager)
		if err != nil {
			return inventory.Errorf(inventory.EINVALID, "network manager: %s", inventory.ErrorMessage(err))
		}
		s.NetworkManager = email
	}
	return nil
}

// sealedRow is a sealed value that ResealAll read, with its row's key as
// stored.
type sealedRow struct {
	inventory.Sealed
	key []any // the arguments of the WHERE clause of its table's update
}

// resealTables are, in the order ResealAll visits them, the query of
// each table's sealed values and the update of one, whose last arguments
// are the row's key.
var resealTables = []struct {
	table, query, update string
}{
	{"recovery_keys",
		`SELECT device_id, protector_id, sealed FROM recovery_keys ORDER BY device_id, protector_id`,
		`UPDATE recovery_keys SET sealed = ? WHERE device_id = ? AND protector_id = ?`},
	{"users",
		`SELECT id, totp_sealed FROM users WHERE totp_sealed IS NOT NULL ORDER BY id`,
		`UPDATE users SET totp_sealed = ? WHERE id = ?`},
	{"pin_records",
		`SELECT id, asset_id, kind, sealed FROM pin_records ORDER BY id`,
		`UPDATE pin_records SET sealed = ? WHERE id = ?`},
	{"pin_history",
		`SELECT h.record_id, h.replaced_at, r.asset_id, r.kind, h.sealed
			FROM pin_history h JOIN pin_records r ON r.id = h.record_id ORDER BY h.record_id, h.replaced_at`,
		`UPDATE pin_history SET sealed = ? WHERE record_id = ? AND replaced_at = ?`},
}

// ResealAll calls fn with every sealed value in the store — recovery
// keys, TOTP secrets, PIN records and their history, in that order — and
// stores what it returns, all in one transaction: if fn fails, returns
// an empty value or a write fails, nothing changes and ResealAll returns
// the error. Returns how many values it resealed.
func (db *DB) ResealAll(ctx context.Context, fn func(inventory.Sealed) ([]byte, error)) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range resealTables {
			all, err := readSealed(ctx, tx, t.table, t.query)
			if err != nil {
				return err
			}
			for _, r := range all {
				v, err := fn(r.Sealed)
				if err != nil {
					return fmt.Errorf("reseal %s %v: %w", r.Table, r.IDs, err)
				}
				if len(v) == 0 {
					return fmt.Errorf("reseal %s %v: no value to store", r.Table, r.IDs)
				}
				res, err := tx.ExecContext(ctx, t.update, append([]any{v}, r.key...)...)
				if err != nil {
					return fmt.Errorf("reseal %s %v: %w", r.Table, r.IDs, err)
				}
				if m, err := res.RowsAffected(); err != nil {
					return fmt.Errorf("reseal %s %v: %w", r.Table, r.IDs, err)
				} else if m != 1 {
					return fmt.Errorf("reseal %s %v: %d rows changed, want 1", r.Table, r.IDs, m)
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// readSealed reads every sealed value of a table with query, which
// selects the row's key columns (for pin_history, then the record's kit
// and kind) and the value last.
func readSealed(ctx context.Context, tx *sql.Tx, table, query string) ([]sealedRow, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", table, err)
	}
	defer rows.Close()
	var all []sealedRow
	for rows.Next() {
		r := sealedRow{Sealed: inventory.Sealed{Table: table}}
		switch table {
		case "recovery_keys":
			var device, protector string
			if err := rows.Scan(&device, &protector, &r.Value); err != nil {
				return nil, fmt.Errorf("scan %s: %w", table, err)
			}
			r.IDs, r.key = []string{device, protector}, []any{device, protector}
		case "users":
			var id string
			if err := rows.Scan(&id, &r.Value); err != nil {
				return nil, fmt.Errorf("scan %s: %w", table, err)
			}
			r.IDs, r.key = []string{id}, []any{id}
		case "pin_records":
			var id, asset, kind string
			if err := rows.Scan(&id, &asset, &kind, &r.Value); err != nil {
				return nil, fmt.Errorf("scan %s: %w", table, err)
			}
			r.IDs, r.key = []string{id, asset, kind}, []any{id}
		case "pin_history":
			var (
				id, replaced, asset, kind string
				at                        time.Time
			)
			if err := rows.Scan(&id, &replaced, &asset, &kind, &r.Value); err != nil {
				return nil, fmt.Errorf("scan %s: %w", table, err)
			}
			if err := (timeScanner{&at}).Scan(replaced); err != nil {
				return nil, fmt.Errorf("scan %s: %w", table, err)
			}
			r.IDs = []string{id, at.UTC().Format(time.RFC3339Nano), asset, kind}
			r.key = []any{id, replaced}
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query %s: %w", table, err)
	}
	return all, nil
}
