package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// CreateExit stores e, filling ID, StartedAt (the store's time) when
// zero, Status open and Version 1, and setting LeavingDate to its day at
// midnight UTC. Returns EINVALID for no leaving date, an item of unknown
// source, kit on the check-in twice or kit of another school; ECONFLICT
// when the person has an open check-in at the school already; ENOTFOUND
// for an unknown school, person, starter or asset.
func (db *DB) CreateExit(ctx context.Context, e *inventory.Exit) error {
	v := e.Clone()
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.StartedAt.IsZero() {
		v.StartedAt = db.now()
	}
	v.Status, v.Version = inventory.ExitOpen, 1
	normalizeExit(v)
	if err := checkExit(v); err != nil {
		return err
	}
	items, err := encodeExitItems(v.Items)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
			return err
		}
		person, err := findUserByID(ctx, tx, v.PersonID)
		if err != nil {
			return err
		}
		if _, err := findUserByID(ctx, tx, v.StartedBy); err != nil {
			return err
		}
		if _, err := exitAssets(ctx, tx, v); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO exits (`+exitColumns+`) VALUES (`+qmarks(15)+`)`,
			v.ID, v.SchoolID, v.PersonID, encodeDate(v.LeavingDate), v.StartedBy, encodeTime(v.StartedAt),
			string(v.Status), items, encodeTime(v.LeaverConfirmedAt), nullUUID(v.TechSignedBy), encodeTime(v.TechSignedAt),
			nullUUID(v.ManagerSignedBy), encodeTime(v.ManagerSignedAt), encodeTime(v.CompletedAt), v.Version)
		if what, ok := uniqueViolation(err); ok {
			if strings.Contains(what, "exits_open_person_key") || strings.Contains(what, "exits.school_id") {
				return errOpenExit(person)
			}
			return inventory.Errorf(inventory.ECONFLICT, "exit check-in %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert exit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*e = *v
	return nil
}

// errOpenExit refuses a second open check-in of person at a school.
func errOpenExit(person *inventory.User) error {
	return inventory.Errorf(inventory.ECONFLICT, "%s has an open exit check-in already", person.Label())
}

// normalizeExit sets e's times and dates as they will read back, no items
// as nil and no steps of an item as an empty map.
func normalizeExit(e *inventory.Exit) {
	e.LeavingDate = midnightUTC(e.LeavingDate)
	for _, t := range []*time.Time{&e.StartedAt, &e.LeaverConfirmedAt, &e.TechSignedAt, &e.ManagerSignedAt, &e.CompletedAt} {
		*t = utc(*t)
	}
	if len(e.Items) == 0 {
		e.Items = nil
	}
	for i := range e.Items {
		it := &e.Items[i]
		if it.Steps == nil {
			it.Steps = map[string]inventory.ExitStepDone{}
		}
		for k, s := range it.Steps {
			s.At = utc(s.At)
			it.Steps[k] = s
		}
	}
}

// checkExit checks what the store checks of e itself, before it looks
// anything up.
func checkExit(e *inventory.Exit) error {
	if e.LeavingDate.IsZero() {
		return inventory.Errorf(inventory.EINVALID, "leaving date: give the day the person leaves")
	}
	switch e.Status {
	case inventory.ExitOpen, inventory.ExitCompleted:
	default:
		return inventory.Errorf(inventory.EINVALID, "exit check-in status %q: use %q or %q",
			e.Status, inventory.ExitOpen, inventory.ExitCompleted)
	}
	seen := map[uuid.UUID]bool{}
	for _, it := range e.Items {
		switch it.Source {
		case inventory.ExitFromLoan, inventory.ExitFromAssigned, inventory.ExitFromSignOut, inventory.ExitFromPIN:
		default:
			return inventory.Errorf(inventory.EINVALID, "kit %s: unknown source %q", it.AssetID, it.Source)
		}
		if seen[it.AssetID] {
			return inventory.Errorf(inventory.EINVALID, "kit %s is on the check-in twice", it.AssetID)
		}
		seen[it.AssetID] = true
	}
	return nil
}

// encodeExitItems returns a check-in's items as stored: a JSON array,
// empty for none.
func encodeExitItems(items []inventory.ExitItem) (string, error) {
	if items == nil {
		items = []inventory.ExitItem{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("encode exit items: %w", err)
	}
	return string(b), nil
}

// exitAssets returns the kit of e's items, in their order, checking that
// each exists (ENOTFOUND) and is of e's school (EINVALID).
func exitAssets(ctx context.Context, tx *sql.Tx, e *inventory.Exit) ([]*inventory.Asset, error) {
	all := make([]*inventory.Asset, len(e.Items))
	for i, it := range e.Items {
		a, err := findAssetByID(ctx, tx, it.AssetID)
		if err != nil {
			return nil, err
		}
		if a.SchoolID != e.SchoolID {
			return nil, inventory.Errorf(inventory.EINVALID, "%s belongs to another school", a.Label())
		}
		all[i] = a
	}
	return all, nil
}

// errExitChanged refuses to save a check-in over a newer version.
var errExitChanged = inventory.Errorf(inventory.ECONFLICT,
	"this check-in was changed by someone else meanwhile: reload and try again")

// The words the completion of a check-in leaves on what it changes.
const (
	exitReturnNotes = "returned at the leaver's exit check-in"
	exitPINReason   = "retired at the leaver's exit check-in"
)

// UpdateExit saves e over the version read: ECONFLICT if the stored
// Version is not e.Version, or the stored check-in is completed (it is
// never saved again); EINVALID for a change of school, person, starter or
// start. On success e.Version goes up by one.
//
// When the save completes the check-in (stored open, e completed), e must
// have nothing open ([inventory.Exit.Open], else ECONFLICT) and record
// must be given (else EINVALID); CompletedAt is the store's time when
// zero. In the same transaction record is stored, and for each item's kit
// that is not disposed: the on-loan loan the item names, or any on-loan
// loan of the kit to the leaver, is returned at CompletedAt, received by
// the technician who signed, with a "returned" event; the leaver's open
// sign-outs of it are signed back in by the technician; the kit goes back
// to in stock, unless someone else still has it on loan, and its
// AssignedTo is cleared when it is the leaver's email address; and its
// PIN records are retired, each logged by the technician. record is
// ignored on a save that does not complete the check-in.
func (db *DB) UpdateExit(ctx context.Context, e *inventory.Exit, record []byte) error {
	v := e.Clone()
	normalizeExit(v)
	if err := checkExit(v); err != nil {
		return err
	}
	now := db.now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		old, err := findExitByID(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if old.Version != e.Version {
			return errExitChanged
		}
		completing, err := checkExitUpdate(old, v, record)
		if err != nil {
			return err
		}
		if completing && v.CompletedAt.IsZero() {
			v.CompletedAt = utc(now)
		}
		person, err := findUserByID(ctx, tx, v.PersonID)
		if err != nil {
			return err
		}
		for _, id := range []uuid.UUID{v.TechSignedBy, v.ManagerSignedBy} {
			if id == uuid.Nil {
				continue
			}
			if _, err := findUserByID(ctx, tx, id); err != nil {
				return err
			}
		}
		assets, err := exitAssets(ctx, tx, v)
		if err != nil {
			return err
		}
		items, err := encodeExitItems(v.Items)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE exits SET leaving_date = ?, status = ?, items = ?,
				leaver_confirmed_at = ?, tech_signed_by = ?, tech_signed_at = ?,
				manager_signed_by = ?, manager_signed_at = ?, completed_at = ?, version = ?
			WHERE id = ? AND version = ?`,
			encodeDate(v.LeavingDate), string(v.Status), items,
			encodeTime(v.LeaverConfirmedAt), nullUUID(v.TechSignedBy), encodeTime(v.TechSignedAt),
			nullUUID(v.ManagerSignedBy), encodeTime(v.ManagerSignedAt), encodeTime(v.CompletedAt), e.Version+1,
			v.ID, e.Version)
		if err != nil {
			return fmt.Errorf("update exit: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update exit: %w", err)
		} else if n == 0 {
			return errExitChanged
		}
		if !completing {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO exit_records (exit_id, pdf, created_at) VALUES (?, ?, ?)`,
			v.ID, record, encodeTime(now)); err != nil {
			if _, ok := uniqueViolation(err); ok {
				return inventory.Errorf(inventory.ECONFLICT, "the record of this check-in is stored already, and never changes")
			}
			return fmt.Errorf("insert exit record: %w", err)
		}
		for i, it := range v.Items {
			if err := db.completeExitItem(ctx, tx, v, person, &it, assets[i], now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.Version = e.Version + 1
	*e = *v
	return nil
}

// checkExitUpdate checks that e may be saved over old, and reports
// whether the save completes the check-in.
func checkExitUpdate(old, e *inventory.Exit, record []byte) (bool, error) {
	switch {
	case old.Status == inventory.ExitCompleted:
		return false, inventory.Errorf(inventory.ECONFLICT,
			"this check-in was completed on %s: it is never changed again", old.CompletedAt.Format("2 January 2006"))
	case e.SchoolID != old.SchoolID || e.PersonID != old.PersonID || e.StartedBy != old.StartedBy ||
		!e.StartedAt.Equal(old.StartedAt):
		return false, inventory.Errorf(inventory.EINVALID,
			"a check-in's school, leaver, starter and start time never change")
	case e.Status != inventory.ExitCompleted:
		return false, nil
	}
	if open := e.Open(); len(open) > 0 {
		return false, inventory.Errorf(inventory.ECONFLICT, "cannot complete the check-in: still open: %s",
			strings.Join(open, "; "))
	}
	if len(record) == 0 {
		return false, inventory.Errorf(inventory.EINVALID, "completing a check-in stores its record: none was given")
	}
	return true, nil
}

// completeExitItem makes the changes the completion of e makes to the kit
// a of item it, whose leaver is person.
func (db *DB) completeExitItem(ctx context.Context, tx *sql.Tx, e *inventory.Exit, person *inventory.User,
	it *inventory.ExitItem, a *inventory.Asset, now time.Time) error {
	if a.Status == inventory.AssetDisposed {
		return nil
	}
	at, tech := e.CompletedAt, e.TechSignedBy

	// The leaver's loan of the kit comes back.
	rows, err := tx.QueryContext(ctx, `SELECT `+loanColumns+` FROM loans
		WHERE asset_id = ? AND status = 'on_loan' AND (id = ? OR borrower_id = ?)`, a.ID, it.LoanID, e.PersonID)
	if err != nil {
		return fmt.Errorf("query loans: %w", err)
	}
	var loans []*inventory.Loan
	for rows.Next() {
		l, err := scanLoan(rows)
		if err != nil {
			rows.Close()
			return err
		}
		loans = append(loans, l)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("query loans: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query loans: %w", err)
	}
	for _, l := range loans {
		old := l.Version
		l.Status, l.ReturnedAt, l.ReceivedBy, l.ReturnNotes = inventory.LoanReturned, at, tech, exitReturnNotes
		l.UpdatedAt, l.Version = utc(now), old+1
		args := loanArgs(l)[2:] // loanFields
		res, err := tx.ExecContext(ctx, `UPDATE loans SET (`+loanFields+`) = (`+qmarks(len(args))+`)
			WHERE id = ? AND version = ?`, append(args, l.ID, old)...)
		if err != nil {
			return fmt.Errorf("return loan: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("return loan: %w", err)
		} else if n == 0 {
			return errLoanChanged
		}
		ev, err := db.loanEvent(&inventory.LoanEvent{Action: "returned", ActorID: tech, At: at, Detail: exitReturnNotes}, l)
		if err != nil {
			return err
		}
		if err := insertLoanEvent(ctx, tx, ev); err != nil {
			return err
		}
	}

	// The leaver's sign-outs of it are signed back in.
	if _, err := tx.ExecContext(ctx, `UPDATE sign_outs SET back_at = ?, back_by = ?
		WHERE asset_id = ? AND user_id = ? AND back_at IS NULL`, encodeTime(at), tech, a.ID, e.PersonID); err != nil {
		return fmt.Errorf("return sign-out: %w", err)
	}

	// The kit is in stock, unless someone else has it on loan, and no
	// longer assigned to the leaver.
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM loans WHERE asset_id = ? AND status = 'on_loan'`,
		a.ID).Scan(&others); err != nil {
		return fmt.Errorf("find open loan: %w", err)
	}
	v := *a
	if others == 0 && it.Source != inventory.ExitFromPIN { // kit listed only for its PINs keeps its status
		v.Status = inventory.AssetInStock
	}
	if strings.EqualFold(strings.TrimSpace(v.AssignedTo), person.Email) {
		v.AssignedTo = ""
	}
	if v.Status != a.Status || v.AssignedTo != a.AssignedTo {
		v.UpdatedAt = utc(now)
		if _, err := tx.ExecContext(ctx, `UPDATE assets SET status = ?, assigned_to = ?, updated_at = ?,
				asset_tag_key = ?, serial_key = ?, model_key = ?, location_key = ?, search_key = ?
			WHERE id = ?`, append(append([]any{string(v.Status), v.AssignedTo, encodeTime(v.UpdatedAt)},
			assetKeys(&v)...), v.ID)...); err != nil {
			return fmt.Errorf("return asset: %w", err)
		}
	}

	// Its PINs are retired: the leaver may know them.
	records, err := findPINRecords(ctx, tx, a.ID)
	if err != nil {
		return err
	}
	for _, r := range records {
		if !r.RetiredAt.IsZero() {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pin_records SET retired_at = ? WHERE id = ?`,
			encodeTime(at), r.ID); err != nil {
			return fmt.Errorf("retire pin record: %w", err)
		}
		le := &inventory.PINLogEntry{SchoolID: r.SchoolID, AssetID: r.AssetID, Kind: r.Kind,
			Action: inventory.PINActionRetire, ActorID: tech, At: at, Reason: exitPINReason}
		if err := db.fillPINEntry(le); err != nil {
			return err
		}
		if err := insertPINLog(ctx, tx, le); err != nil {
			return err
		}
	}
	return nil
}

// FindExitByID returns ENOTFOUND if there is no such check-in.
func (db *DB) FindExitByID(ctx context.Context, id uuid.UUID) (*inventory.Exit, error) {
	var e *inventory.Exit
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		e, err = findExitByID(ctx, tx, id)
		return err
	})
	return e, err
}

func findExitByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.Exit, error) {
	e, err := scanExit(tx.QueryRowContext(ctx, `SELECT `+exitColumns+` FROM exits WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "exit check-in %s not found", id)
	}
	return e, err
}

// FindExits returns the check-ins f selects, newest first (by StartedAt,
// then ID).
func (db *DB) FindExits(ctx context.Context, f inventory.ExitFilter) ([]*inventory.Exit, error) {
	all := []*inventory.Exit{}
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
		if f.PersonID != uuid.Nil {
			where = append(where, "person_id = "+a.add(f.PersonID))
		}
		if f.Status != "" {
			where = append(where, "status = "+a.add(string(f.Status)))
		}
		limit := inventory.DeviceFilter{Limit: f.Limit}.PageLimit()
		rows, err := tx.QueryContext(ctx, `SELECT `+exitColumns+` FROM exits`+whereClause(where)+
			` ORDER BY started_at DESC, id DESC LIMIT `+a.add(limit), a...)
		if err != nil {
			return fmt.Errorf("query exits: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanExit(rows)
			if err != nil {
				return err
			}
			all = append(all, e)
		}
		return rows.Err()
	})
	return all, err
}

// FindExitRecord returns the record stored when a check-in completed, or
// ENOTFOUND.
func (db *DB) FindExitRecord(ctx context.Context, exitID uuid.UUID) ([]byte, error) {
	var pdf []byte
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT pdf FROM exit_records WHERE exit_id = ?`, exitID).Scan(&pdf)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "exit check-in %s has no record stored", exitID)
		} else if err != nil {
			return fmt.Errorf("query exit record: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if pdf == nil {
		pdf = []byte{}
	}
	return pdf, nil
}

const exitColumns = `id, school_id, person_id, leaving_date, started_by, started_at, status, items,
	leaver_confirmed_at, tech_signed_by, tech_signed_at, manager_signed_by, manager_signed_at, completed_at, version`

func scanExit(row rowScanner) (*inventory.Exit, error) {
	var (
		e             inventory.Exit
		status, items string
	)
	err := row.Scan(&e.ID, &e.SchoolID, &e.PersonID, dateScanner{&e.LeavingDate}, &e.StartedBy, timeScanner{&e.StartedAt},
		&status, &items, timeScanner{&e.LeaverConfirmedAt}, uuidScanner{&e.TechSignedBy}, timeScanner{&e.TechSignedAt},
		uuidScanner{&e.ManagerSignedBy}, timeScanner{&e.ManagerSignedAt}, timeScanner{&e.CompletedAt}, &e.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan exit: %w", err)
	}
	e.Status = inventory.ExitStatus(status)
	if err := json.Unmarshal([]byte(items), &e.Items); err != nil {
		return nil, fmt.Errorf("decode exit items: %w", err)
	}
	normalizeExit(&e)
	return &e, nil
}
