package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// CreateLoan stores a new loan with its event (a "requested" event by the
// requester when ev is nil), filling the loan's ID, CreatedAt (when
// zero), UpdatedAt and Version 1, and the event's ID and At when zero and
// its loan, school and kit from the loan. Returns EINVALID for an unknown
// status or kit of another school, ECONFLICT when the kit is already
// named by an open loan or may not be lent, and ENOTFOUND for an unknown
// school, person or asset.
func (db *DB) CreateLoan(ctx context.Context, l *inventory.Loan, ev *inventory.LoanEvent) error {
	if _, err := inventory.ParseLoanStatus(string(l.Status)); err != nil {
		return err
	}
	v := *l
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.UpdatedAt, v.Version = v.CreatedAt, 1
	normalizeLoan(&v)
	if ev == nil {
		ev = &inventory.LoanEvent{Action: "requested", ActorID: v.RequestedBy, At: v.CreatedAt}
	}
	e, err := db.loanEvent(ev, &v)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
			return err
		}
		for _, id := range []uuid.UUID{v.BorrowerID, v.RequestedBy} {
			if _, err := findUserByID(ctx, tx, id); err != nil {
				return err
			}
		}
		a, err := loanAsset(ctx, tx, &v, "")
		if err != nil {
			return err
		}
		args := loanArgs(&v)
		_, err = tx.Exec(ctx, `INSERT INTO loans (`+loanColumns+`) VALUES (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return loanError(err, &v, a)
		}
		return insertLoanEvent(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	*l, *ev = v, *e
	return nil
}

// normalizeLoan sets l's times and dates as they will read back.
func normalizeLoan(l *inventory.Loan) {
	for _, t := range []*time.Time{
		&l.HeadApprovedAt, &l.LeadApprovedAt, &l.DeclinedAt, &l.SignedAt, &l.HandedOverAt, &l.LastCheckAt,
		&l.CheckRemindedAt, &l.OverdueRemindedAt, &l.ReturnedAt, &l.CreatedAt, &l.UpdatedAt,
	} {
		*t = utc(*t)
	}
	l.ExpectedReturn = midnightUTC(l.ExpectedReturn)
}

// loanEvent returns a copy of ev for loan l: with l's ID and school, l's
// kit when it names none, and its ID and At (the store's time) filled
// when zero. Returns EINVALID for an event without an action.
func (db *DB) loanEvent(ev *inventory.LoanEvent, l *inventory.Loan) (*inventory.LoanEvent, error) {
	if ev.Action == "" {
		return nil, inventory.Errorf(inventory.EINVALID, "loan event: no action")
	}
	e := *ev
	if err := fillID(&e.ID); err != nil {
		return nil, err
	}
	if e.At.IsZero() {
		e.At = db.now()
	}
	e.At = utc(e.At)
	e.LoanID, e.SchoolID = l.ID, l.SchoolID
	if e.AssetID == uuid.Nil {
		e.AssetID = l.AssetID
	}
	return &e, nil
}

// loanAsset checks the kit that l names, if any, for the step from prev
// (the stored status, "" for a new loan) to l.Status, and moves the kit's
// status with it: on loan at the hand-over, in stock at the return. Kit
// must be of the loan's school, and lendable while the loan waits for
// the hand-over and at the hand-over. Returns the kit, or nil.
func loanAsset(ctx context.Context, tx pgx.Tx, l *inventory.Loan, prev inventory.LoanStatus) (*inventory.Asset, error) {
	if l.AssetID == uuid.Nil {
		if l.Status == inventory.LoanOnLoan {
			return nil, inventory.Errorf(inventory.EINVALID, "a loan on loan names its kit")
		}
		return nil, nil
	}
	a, err := findAssetByID(ctx, tx, l.AssetID, true)
	if err != nil {
		return nil, err
	}
	if a.SchoolID != l.SchoolID {
		return nil, inventory.Errorf(inventory.EINVALID, "%s belongs to another school", a.Label())
	}
	handOver := l.Status == inventory.LoanOnLoan && prev != inventory.LoanOnLoan
	waiting := l.Status.Open() && l.Status != inventory.LoanOnLoan
	if (waiting || handOver) && !a.Status.Lendable() {
		return nil, inventory.Errorf(inventory.ECONFLICT, "%s is %s and cannot be lent",
			a.Label(), strings.ReplaceAll(string(a.Status), "_", " "))
	}
	var status inventory.AssetStatus
	switch {
	case handOver:
		status = inventory.AssetOnLoan
	case l.Status == inventory.LoanReturned && prev == inventory.LoanOnLoan:
		status = inventory.AssetInStock
	default:
		return a, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE assets SET status = $1, updated_at = $2 WHERE id = $3`,
		string(status), encodeTime(l.UpdatedAt), a.ID); err != nil {
		return nil, fmt.Errorf("set asset status: %w", err)
	}
	return a, nil
}

// loanError names the kit that a uniqueness violation on l clashed over,
// or returns err wrapped.
func loanError(err error, l *inventory.Loan, a *inventory.Asset) error {
	what, ok := uniqueViolation(err)
	switch {
	case !ok:
		return fmt.Errorf("store loan: %w", err)
	case a != nil && what == "loans_open_asset_key":
		return inventory.Errorf(inventory.ECONFLICT, "%s is already on another open loan", a.Label())
	}
	return inventory.Errorf(inventory.ECONFLICT, "loan %s already exists", l.ID)
}

// errLoanChanged refuses to save a loan over a newer version.
var errLoanChanged = inventory.Errorf(inventory.ECONFLICT,
	"this loan was changed by someone else meanwhile: reload and try again")

// UpdateLoan saves a step of a loan in one transaction: the loan, only
// if its stored Version is u.Loan.Version (else ECONFLICT), with the
// store's time as UpdatedAt and the next Version, both set in u.Loan on
// success; its event, filled as CreateLoan fills one; the signed
// agreement; and the kit's status, on loan at the hand-over (ECONFLICT if
// the kit may not be lent) and in stock at the return. A loan's school,
// borrower, requester and CreatedAt never change (EINVALID), nor its kit
// once signed, nor a loan on loan other than by its return (ECONFLICT).
// Returns ECONFLICT too when the loan names kit another open loan holds
// or already has an agreement, and ENOTFOUND. It locks the loan's row,
// then its kit's, so that saves of one loan take turns and only the first
// over a version wins, and a change of the kit's status waits.
func (db *DB) UpdateLoan(ctx context.Context, u inventory.LoanUpdate) error {
	if u.Loan == nil {
		return inventory.Errorf(inventory.EINVALID, "no loan to save")
	}
	if _, err := inventory.ParseLoanStatus(string(u.Loan.Status)); err != nil {
		return err
	}
	v := *u.Loan
	v.UpdatedAt, v.Version = db.now(), u.Loan.Version+1
	normalizeLoan(&v)
	var (
		e   *inventory.LoanEvent
		ag  *inventory.SignedAgreement
		err error
	)
	if u.Event != nil {
		if e, err = db.loanEvent(u.Event, &v); err != nil {
			return err
		}
	}
	if u.Agreement != nil {
		if ag, err = db.signedAgreement(u.Agreement, &v); err != nil {
			return err
		}
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		old, err := findLoanByID(ctx, tx, v.ID, true)
		if err != nil {
			return err
		}
		if old.Version != u.Loan.Version {
			return errLoanChanged
		}
		if err := inventory.CheckLoanUpdate(old, &v); err != nil {
			return err
		}
		a, err := loanAsset(ctx, tx, &v, old.Status)
		if err != nil {
			return err
		}
		args := loanArgs(&v)[2:] // loanFields
		n := len(args)
		tag, err := tx.Exec(ctx, `UPDATE loans SET (`+loanFields+`) = (`+placeholders(n)+`)
			WHERE id = $`+strconv.Itoa(n+1)+` AND version = $`+strconv.Itoa(n+2), append(args, v.ID, u.Loan.Version)...)
		if err != nil {
			return loanError(err, &v, a)
		}
		if tag.RowsAffected() == 0 {
			return errLoanChanged
		}
		if e != nil {
			if err := insertLoanEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		if ag != nil {
			return insertAgreement(ctx, tx, ag)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*u.Loan = v
	if e != nil {
		*u.Event = *e
	}
	if ag != nil {
		*u.Agreement = *ag
	}
	return nil
}

// signedAgreement returns a copy of ag for loan l, with SignedAt (the
// store's time) filled when zero. Returns EINVALID for an agreement of
// another loan.
func (db *DB) signedAgreement(ag *inventory.SignedAgreement, l *inventory.Loan) (*inventory.SignedAgreement, error) {
	v := *ag
	switch v.LoanID {
	case uuid.Nil:
		v.LoanID = l.ID
	case l.ID:
	default:
		return nil, inventory.Errorf(inventory.EINVALID, "the agreement is of loan %s, not %s", v.LoanID, l.ID)
	}
	if v.SignedAt.IsZero() {
		v.SignedAt = db.now()
	}
	v.SignedAt = utc(v.SignedAt)
	if len(v.PDF) == 0 {
		v.PDF = nil
	}
	return &v, nil
}

func insertAgreement(ctx context.Context, tx pgx.Tx, ag *inventory.SignedAgreement) error {
	pdf := ag.PDF
	if pdf == nil {
		pdf = []byte{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO loan_agreements
		(loan_id, template_version, text, sha256, full_name, signed_at, address, pdf)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		ag.LoanID, ag.TemplateVersion, ag.Text, ag.SHA256, ag.FullName, encodeTime(ag.SignedAt), ag.Address, pdf)
	if _, ok := uniqueViolation(err); ok {
		return inventory.Errorf(inventory.ECONFLICT, "the agreement of this loan is signed already, and never changes")
	} else if err != nil {
		return fmt.Errorf("insert agreement: %w", err)
	}
	return nil
}

func insertLoanEvent(ctx context.Context, tx pgx.Tx, e *inventory.LoanEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO loan_events (id, loan_id, school_id, asset_id, action, actor_id, at, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, e.LoanID, e.SchoolID, nullUUID(e.AssetID), e.Action, nullUUID(e.ActorID), encodeTime(e.At), e.Detail)
	if _, ok := uniqueViolation(err); ok {
		return inventory.Errorf(inventory.ECONFLICT, "loan event %s already exists", e.ID)
	} else if err != nil {
		return fmt.Errorf("insert loan event: %w", err)
	}
	return nil
}

// FindLoanByID returns ENOTFOUND if there is no such loan.
func (db *DB) FindLoanByID(ctx context.Context, id uuid.UUID) (*inventory.Loan, error) {
	var l *inventory.Loan
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		l, err = findLoanByID(ctx, tx, id, false)
		return err
	})
	return l, err
}

// findLoanByID reads a loan, locking its row until the transaction ends
// when forUpdate is set.
func findLoanByID(ctx context.Context, tx pgx.Tx, id uuid.UUID, forUpdate bool) (*inventory.Loan, error) {
	q := `SELECT ` + loanColumns + ` FROM loans WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	l, err := scanLoan(tx.QueryRow(ctx, q, id))
	if isNoRows(err) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "loan %s not found", id)
	}
	return l, err
}

// FindLoans returns a page of loans matching f, newest first (by ID,
// which is a UUIDv7).
func (db *DB) FindLoans(ctx context.Context, f inventory.LoanFilter) ([]*inventory.Loan, error) {
	for _, s := range f.Statuses {
		if _, err := inventory.ParseLoanStatus(string(s)); err != nil {
			return nil, err
		}
	}
	all := []*inventory.Loan{}
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return all, nil
	}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		var (
			a     sqlArgs
			where []string
		)
		if f.SchoolIDs != nil {
			where = append(where, "school_id = ANY("+a.add(f.SchoolIDs)+")")
		}
		if len(f.Statuses) > 0 {
			where = append(where, "status = ANY("+a.add(mapSlice(f.Statuses, func(s inventory.LoanStatus) string { return string(s) }))+"::text[])")
		}
		if f.BorrowerID != uuid.Nil {
			where = append(where, "borrower_id = "+a.add(f.BorrowerID))
		}
		if f.AssetID != uuid.Nil {
			where = append(where, "asset_id = "+a.add(f.AssetID))
		}
		if !f.CheckDueBy.IsZero() {
			where = append(where, "status = 'on_loan'", "check_due_at <= "+a.add(encodeTime(f.CheckDueBy)))
		}
		if f.After != uuid.Nil {
			where = append(where, "id < "+a.add(f.After))
		}
		rows, err := tx.Query(ctx, `SELECT `+loanColumns+` FROM loans`+whereClause(where)+
			` ORDER BY id DESC LIMIT `+a.add(f.PageLimit()), a...)
		if err != nil {
			return fmt.Errorf("query loans: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLoan(rows)
			if err != nil {
				return err
			}
			all = append(all, l)
		}
		return rows.Err()
	})
	return all, err
}

// mapSlice returns f of each of s.
func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// FindAgreement returns the agreement signed for a loan, or ENOTFOUND.
func (db *DB) FindAgreement(ctx context.Context, loanID uuid.UUID) (*inventory.SignedAgreement, error) {
	var ag inventory.SignedAgreement
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT loan_id, template_version, text, sha256, full_name, signed_at, address, pdf
			FROM loan_agreements WHERE loan_id = $1`, loanID).Scan(
			&ag.LoanID, &ag.TemplateVersion, &ag.Text, &ag.SHA256, &ag.FullName, timeScanner{&ag.SignedAt}, &ag.Address, &ag.PDF)
		if isNoRows(err) {
			return inventory.Errorf(inventory.ENOTFOUND, "loan %s has no signed agreement", loanID)
		} else if err != nil {
			return fmt.Errorf("query agreement: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ag.PDF) == 0 {
		ag.PDF = nil
	}
	return &ag, nil
}

// FindLoanEvents returns the history of a loan (loanID set) or of a
// piece of kit (assetID set), or of both at once, oldest first. Returns
// EINVALID when neither is set.
func (db *DB) FindLoanEvents(ctx context.Context, loanID, assetID uuid.UUID) ([]*inventory.LoanEvent, error) {
	var (
		a     sqlArgs
		where []string
	)
	if loanID != uuid.Nil {
		where = append(where, "loan_id = "+a.add(loanID))
	}
	if assetID != uuid.Nil {
		where = append(where, "asset_id = "+a.add(assetID))
	}
	if len(where) == 0 {
		return nil, inventory.Errorf(inventory.EINVALID, "loan history: give a loan or a piece of kit")
	}
	all := []*inventory.LoanEvent{}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, loan_id, school_id, asset_id, action, actor_id, at, detail
			FROM loan_events`+whereClause(where)+` ORDER BY at, id`, a...)
		if err != nil {
			return fmt.Errorf("query loan events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e inventory.LoanEvent
			if err := rows.Scan(&e.ID, &e.LoanID, &e.SchoolID, uuidScanner{&e.AssetID}, &e.Action,
				uuidScanner{&e.ActorID}, timeScanner{&e.At}, &e.Detail); err != nil {
				return fmt.Errorf("scan loan event: %w", err)
			}
			all = append(all, &e)
		}
		return rows.Err()
	})
	return all, err
}

// loanColumns are the columns of a loan: id and school_id, which never
// change, then loanFields.
const loanColumns = `id, school_id, ` + loanFields

// loanFields are the columns of a loan that UpdateLoan writes. The last,
// check_due_at, is derived: [inventory.Loan.CheckDue].
const loanFields = `asset_id, kind, borrower_id, requested_by, reason, expected_return, status,
	needs_lead_approval, head_approved_by, head_approved_at, lead_approved_by, lead_approved_at,
	declined_by, declined_at, decline_reason, signed_at, handed_over_by, handed_over_at,
	handover_condition, accessories, check_interval_days, last_check_at, check_reminded_at,
	overdue_reminded_at, returned_at, received_by, return_condition, return_notes,
	created_at, updated_at, version, check_due_at`

// loanArgs returns the values of l's columns in the order of
// loanColumns.
func loanArgs(l *inventory.Loan) []any {
	return []any{
		l.ID, l.SchoolID, nullUUID(l.AssetID), string(l.Kind), l.BorrowerID, l.RequestedBy, l.Reason,
		encodeDate(l.ExpectedReturn), string(l.Status),
		l.NeedsLeadApproval, nullUUID(l.HeadApprovedBy), encodeTime(l.HeadApprovedAt),
		nullUUID(l.LeadApprovedBy), encodeTime(l.LeadApprovedAt),
		nullUUID(l.DeclinedBy), encodeTime(l.DeclinedAt), l.DeclineReason, encodeTime(l.SignedAt),
		nullUUID(l.HandedOverBy), encodeTime(l.HandedOverAt),
		l.HandoverCondition, l.Accessories, l.CheckIntervalDays, encodeTime(l.LastCheckAt), encodeTime(l.CheckRemindedAt),
		encodeTime(l.OverdueRemindedAt), encodeTime(l.ReturnedAt), nullUUID(l.ReceivedBy), l.ReturnCondition, l.ReturnNotes,
		encodeTime(l.CreatedAt), encodeTime(l.UpdatedAt), l.Version, encodeTime(l.CheckDue()),
	}
}

func scanLoan(row pgx.Row) (*inventory.Loan, error) {
	var (
		l            inventory.Loan
		kind, status string
		checkDue     time.Time
	)
	err := row.Scan(&l.ID, &l.SchoolID, uuidScanner{&l.AssetID}, &kind, &l.BorrowerID, &l.RequestedBy, &l.Reason,
		dateScanner{&l.ExpectedReturn}, &status,
		&l.NeedsLeadApproval, uuidScanner{&l.HeadApprovedBy}, timeScanner{&l.HeadApprovedAt},
		uuidScanner{&l.LeadApprovedBy}, timeScanner{&l.LeadApprovedAt},
		uuidScanner{&l.DeclinedBy}, timeScanner{&l.DeclinedAt}, &l.DeclineReason, timeScanner{&l.SignedAt},
		uuidScanner{&l.HandedOverBy}, timeScanner{&l.HandedOverAt},
		&l.HandoverCondition, &l.Accessories, &l.CheckIntervalDays, timeScanner{&l.LastCheckAt}, timeScanner{&l.CheckRemindedAt},
		timeScanner{&l.OverdueRemindedAt}, timeScanner{&l.ReturnedAt}, uuidScanner{&l.ReceivedBy}, &l.ReturnCondition, &l.ReturnNotes,
		timeScanner{&l.CreatedAt}, timeScanner{&l.UpdatedAt}, &l.Version, timeScanner{&checkDue}) // derived
	if isNoRows(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan loan: %w", err)
	}
	l.Kind, l.Status = inventory.AssetKind(kind), inventory.LoanStatus(status)
	return &l, nil
}
