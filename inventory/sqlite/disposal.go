package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// DisposeAsset records d and, in the same transaction, sets the kit's
// status to disposed and deletes its PIN records and their history,
// logging one "purge" entry by the recorder when there were any (the PIN
// log keeps its lines about the kit). Fills d's SchoolID (the kit's) and
// RecordedAt (the store's time, when zero), and sets Date to its day at
// midnight UTC. It computes nothing about the certificate: the caller
// gives its SHA-256.
//
// Returns EINVALID from [inventory.Disposal.Validate] at the store's
// time, for a CertificateSHA that is not the lower-case hex SHA-256 of
// Certificate, for a SHA-256, name or media type given without a
// certificate, for no recorder and for kit of another school than
// d.SchoolID; ECONFLICT for kit disposed already, named by an open loan
// or signed out; ENOTFOUND for unknown kit or recorder.
func (db *DB) DisposeAsset(ctx context.Context, d *inventory.Disposal) error {
	v := *d
	now := db.now()
	if err := db.newDisposal(&v, now); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		a, err := findAssetByID(ctx, tx, v.AssetID)
		if err != nil {
			return err
		}
		if v.SchoolID == uuid.Nil {
			v.SchoolID = a.SchoolID
		} else if v.SchoolID != a.SchoolID {
			return inventory.Errorf(inventory.EINVALID, "%s belongs to another school", a.Label())
		}
		if err := refuseDisposal(ctx, tx, a); err != nil {
			return err
		}
		if _, err := findUserByID(ctx, tx, v.RecordedBy); err != nil {
			return err
		}
		if err := insertDisposal(ctx, tx, &v, a); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE assets SET status = ?, updated_at = ? WHERE id = ?`,
			string(inventory.AssetDisposed), encodeTime(now), a.ID); err != nil {
			return fmt.Errorf("set asset status: %w", err)
		}
		return db.deletePINs(ctx, tx, a, v.RecordedBy, v.RecordedAt)
	})
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// newDisposal checks d at now and makes it ready to insert: its date at
// midnight UTC, RecordedAt filled, and an empty certificate nil.
func (db *DB) newDisposal(d *inventory.Disposal, now time.Time) error {
	d.Date = midnightUTC(d.Date)
	if err := d.Validate(now); err != nil {
		return err
	}
	if err := checkCertificate(d); err != nil {
		return err
	}
	if d.RecordedBy == uuid.Nil {
		return inventory.Errorf(inventory.EINVALID, "disposal: say who recorded it")
	}
	if d.RecordedAt.IsZero() {
		d.RecordedAt = now
	}
	d.RecordedAt = utc(d.RecordedAt)
	return nil
}

// checkCertificate checks that a disposal's certificate comes with the
// lower-case hex SHA-256 of its bytes, and that no SHA-256, name or media
// type comes without one; it sets an empty certificate nil.
func checkCertificate(d *inventory.Disposal) error {
	if len(d.Certificate) == 0 {
		d.Certificate = nil
		switch {
		case d.CertificateSHA != "":
			return inventory.Errorf(inventory.EINVALID, "certificate: a SHA-256 is given without a certificate")
		case d.CertificateName != "" || d.CertificateType != "":
			return inventory.Errorf(inventory.EINVALID, "certificate: a file name or media type is given without a certificate")
		}
		return nil
	}
	sum := sha256.Sum256(d.Certificate)
	if d.CertificateSHA != hex.EncodeToString(sum[:]) {
		return inventory.Errorf(inventory.EINVALID,
			"certificate: SHA-256 %q is not the lower-case hex SHA-256 of the file given", d.CertificateSHA)
	}
	return nil
}

// refuseDisposal returns ECONFLICT, naming the kit, when a is disposed
// already, named by an open loan or signed out.
func refuseDisposal(ctx context.Context, tx *sql.Tx, a *inventory.Asset) error {
	if a.Status == inventory.AssetDisposed {
		var day string
		err := tx.QueryRowContext(ctx, `SELECT date FROM disposals WHERE asset_id = ?`, a.ID).Scan(&day)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return inventory.Errorf(inventory.ECONFLICT, "%s is disposed already", a.Label())
		case err != nil:
			return fmt.Errorf("find disposal: %w", err)
		}
		return inventory.Errorf(inventory.ECONFLICT, "%s is disposed already: it left on %s", a.Label(), day)
	}
	var (
		args  sqlArgs
		marks []string
	)
	where := "asset_id = " + args.add(a.ID)
	for _, s := range inventory.OpenLoanStatuses {
		marks = append(marks, args.add(string(s)))
	}
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM loans WHERE `+where+
		` AND status IN (`+strings.Join(marks, ", ")+`) LIMIT 1`, args...).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("find open loan: %w", err)
	default:
		return errOpenLoan(a, inventory.LoanStatus(status))
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sign_outs WHERE asset_id = ? AND back_at IS NULL`,
		a.ID).Scan(&n); err != nil {
		return fmt.Errorf("find open sign-out: %w", err)
	}
	if n > 0 {
		return inventory.Errorf(inventory.ECONFLICT, "%s is signed out: sign it back in before disposing of it", a.Label())
	}
	return nil
}

// errOpenLoan refuses to dispose of kit a, which a loan in status s
// names.
func errOpenLoan(a *inventory.Asset, s inventory.LoanStatus) error {
	if s == inventory.LoanOnLoan {
		return inventory.Errorf(inventory.ECONFLICT, "%s is out on a loan: record its return before disposing of it", a.Label())
	}
	return inventory.Errorf(inventory.ECONFLICT,
		"%s is named by an open loan (%s): cancel that loan, or give it other kit, before disposing of it",
		a.Label(), strings.ReplaceAll(string(s), "_", " "))
}

// insertDisposal inserts d, which is checked and filled, of kit a.
func insertDisposal(ctx context.Context, tx *sql.Tx, d *inventory.Disposal, a *inventory.Asset) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO disposals (`+disposalColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.AssetID, d.SchoolID, string(d.Method), encodeDate(d.Date), d.Recipient, d.Notes,
		nullBytes(d.Certificate), d.CertificateName, d.CertificateType, d.CertificateSHA, d.RecordedBy, encodeTime(d.RecordedAt))
	if _, ok := uniqueViolation(err); ok {
		return inventory.Errorf(inventory.ECONFLICT, "%s is disposed already", a.Label())
	} else if err != nil {
		return fmt.Errorf("insert disposal: %w", err)
	}
	return nil
}

// nullBytes returns b for storing, or nil (NULL) when it is empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// deletePINs deletes kit a's PIN records and their history and, when
// there were records, logs a "purge" entry by by at at saying how many.
func (db *DB) deletePINs(ctx context.Context, tx *sql.Tx, a *inventory.Asset, by uuid.UUID, at time.Time) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM pin_history
		WHERE record_id IN (SELECT id FROM pin_records WHERE asset_id = ?)`, a.ID)
	if err != nil {
		return fmt.Errorf("delete pin history: %w", err)
	}
	old, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete pin history: %w", err)
	}
	if res, err = tx.ExecContext(ctx, `DELETE FROM pin_records WHERE asset_id = ?`, a.ID); err != nil {
		return fmt.Errorf("delete pin records: %w", err)
	}
	records, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete pin records: %w", err)
	}
	if records == 0 {
		return nil
	}
	e := &inventory.PINLogEntry{SchoolID: a.SchoolID, AssetID: a.ID, Action: inventory.PINActionPurge,
		ActorID: by, At: at, Reason: disposalPurgeReason(int(records), int(old))}
	if err := db.fillPINEntry(e); err != nil {
		return err
	}
	return insertPINLog(ctx, tx, e)
}

// disposalPurgeReason is the reason the purge entry of a disposal gives
// for deleting records PIN records and old of their old values.
func disposalPurgeReason(records, old int) string {
	what := plural(records, "PIN record", "PIN records")
	if old > 0 {
		what += " and " + plural(old, "old value", "old values")
	}
	return what + " deleted: the kit was disposed"
}

// plural returns n with the noun for one or for several.
func plural(n int, one, several string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, several)
}

// FindDisposal returns the disposal of an asset, with its certificate,
// or ENOTFOUND.
func (db *DB) FindDisposal(ctx context.Context, assetID uuid.UUID) (*inventory.Disposal, error) {
	var d *inventory.Disposal
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		d, err = scanDisposal(tx.QueryRowContext(ctx, `SELECT `+disposalColumns+` FROM disposals WHERE asset_id = ?`, assetID))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "register entry %s has no disposal recorded", assetID)
		}
		return err
	})
	return d, err
}

const disposalColumns = `asset_id, school_id, method, date, recipient, notes,
	certificate, certificate_name, certificate_type, certificate_sha256, recorded_by, recorded_at`

func scanDisposal(row rowScanner) (*inventory.Disposal, error) {
	var (
		d      inventory.Disposal
		method string
	)
	err := row.Scan(&d.AssetID, &d.SchoolID, &method, dateScanner{&d.Date}, &d.Recipient, &d.Notes,
		&d.Certificate, &d.CertificateName, &d.CertificateType, &d.CertificateSHA, &d.RecordedBy, timeScanner{&d.RecordedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan disposal: %w", err)
	}
	d.Method = inventory.DisposalMethod(method)
	if len(d.Certificate) == 0 {
		d.Certificate = nil
	}
	return &d, nil
}
