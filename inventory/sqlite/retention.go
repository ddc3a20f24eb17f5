package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// SetSchoolRetention replaces a school's retention periods. Returns
// EINVALID for periods that fail [inventory.Retention.Validate], and
// ENOTFOUND.
func (db *DB) SetSchoolRetention(ctx context.Context, schoolID uuid.UUID, r inventory.Retention) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schools SET retention = ? WHERE id = ?`, string(b), schoolID)
		if err != nil {
			return fmt.Errorf("set retention: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set retention: %w", err)
		} else if n == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s not found", schoolID)
		}
		return nil
	})
}

// The conditions that select a school's (?1) rows of a table older than
// their kind's cutoff (?2). CountExpired and PurgeExpired share them, so
// that what is counted is what a purge deletes.
const (
	// expiredEvents selects events received before the cutoff, a range
	// of events_school_received.
	expiredEvents = `events.school_id = ?1 AND events.received_at < ?2`
	// expiredPosture selects snapshots received before the cutoff that
	// have a newer one of the same device, later in (received_at, id),
	// the order of the device's pages, received before the start of the
	// day (?3; any newer one when NULL): each device keeps its latest,
	// and a snapshot received today changes nothing until tomorrow, so
	// every purge of a day deletes the same. The old ones are a range of
	// posture_snapshots_received (or, device by device, of
	// posture_snapshots_device_received), the newer one a range of
	// posture_snapshots_device_received.
	expiredPosture = `posture_snapshots.device_id IN (SELECT id FROM devices WHERE school_id = ?1)
		AND posture_snapshots.received_at < ?2
		AND EXISTS (SELECT 1 FROM posture_snapshots AS newer WHERE newer.device_id = posture_snapshots.device_id
			AND (newer.received_at, newer.id) > (posture_snapshots.received_at, posture_snapshots.id)
			AND (?3 IS NULL OR newer.received_at < ?3))`
	// expiredPINHistory selects old PIN values replaced before the
	// cutoff.
	expiredPINHistory = `pin_history.record_id IN (SELECT id FROM pin_records WHERE school_id = ?1)
		AND pin_history.replaced_at < ?2`
	// expiredLoans selects loans that ended before the cutoff: an ended
	// loan never changes again, so updated_at is when it ended. The
	// status condition is that of loans_school_ended, so that the
	// planner may read the index.
	expiredLoans = `loans.school_id = ?1 AND loans.status IN ('returned', 'declined', 'cancelled')
		AND loans.updated_at < ?2`
	// expiredAgreements selects the signed agreements of those loans.
	expiredAgreements = `loan_agreements.loan_id IN (SELECT loans.id FROM loans WHERE ` + expiredLoans + `)`
)

// expiredKind is a kind of record that CountExpired counts as the rows
// of one table.
type expiredKind struct {
	table, where string
	// cutoff is the cutoff of the kind.
	cutoff func(c inventory.RetentionCutoffs) time.Time
	// count is where the rows are counted.
	count func(n *inventory.RetentionCounts) *int
	// today says that where takes c.Today as ?3.
	today bool
}

// args returns the parameters of k.where for the school and c.
func (k expiredKind) args(schoolID uuid.UUID, c inventory.RetentionCutoffs) []any {
	args := []any{schoolID, encodeTime(k.cutoff(c))}
	if k.today {
		args = append(args, encodeTime(c.Today))
	}
	return args
}

// The kinds of record PurgeExpired deletes.
var (
	expiredEventRows = expiredKind{table: "events", where: expiredEvents,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.USBEvents },
		count:  func(n *inventory.RetentionCounts) *int { return &n.USBEvents }}
	expiredPostureRows = expiredKind{table: "posture_snapshots", where: expiredPosture, today: true,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Posture },
		count:  func(n *inventory.RetentionCounts) *int { return &n.Posture }}
	expiredPINRows = expiredKind{table: "pin_history", where: expiredPINHistory,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.PINHistory },
		count:  func(n *inventory.RetentionCounts) *int { return &n.PINHistory }}
	expiredLoanRows = expiredKind{table: "loans", where: expiredLoans,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Loans },
		count:  func(n *inventory.RetentionCounts) *int { return &n.Loans }}
	expiredAgreementRows = expiredKind{table: "loan_agreements", where: expiredAgreements,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Loans },
		count:  func(n *inventory.RetentionCounts) *int { return &n.Agreements }}
)

// expiredKinds are the kinds CountExpired counts.
var expiredKinds = []expiredKind{expiredEventRows, expiredPostureRows, expiredPINRows, expiredLoanRows, expiredAgreementRows}

// CountExpired counts the school's records that PurgeExpired with the
// same cutoffs would delete.
func (db *DB) CountExpired(ctx context.Context, schoolID uuid.UUID, c inventory.RetentionCutoffs) (inventory.RetentionCounts, error) {
	var n inventory.RetentionCounts
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n = inventory.RetentionCounts{}
		for _, k := range expiredKinds {
			if k.cutoff(c).IsZero() {
				continue
			}
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+k.table+` WHERE `+k.where,
				k.args(schoolID, c)...).Scan(k.count(&n)); err != nil {
				return fmt.Errorf("count old %s: %w", k.table, err)
			}
		}
		return nil
	})
	if err != nil {
		return inventory.RetentionCounts{}, err
	}
	return n, nil
}

// PurgeExpired deletes, in one transaction, the school's records older
// than their kind's cutoff (see [inventory.RetentionStore]), logging a
// "purge" entry in the PIN log for each piece of kit whose old values it
// deletes. A zero cutoff deletes nothing of its kind. When it deletes
// anything it appends [inventory.RetentionPurgeEntry] at time at (the
// store's time when zero) in the same transaction. The pool's single
// connection serialises purges: of two at once, the second finds
// nothing. Returns what it deleted; an unknown school has nothing.
func (db *DB) PurgeExpired(ctx context.Context, schoolID uuid.UUID, c inventory.RetentionCutoffs, at time.Time) (inventory.RetentionCounts, error) {
	if at.IsZero() {
		at = db.now()
	}
	var n inventory.RetentionCounts
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n = inventory.RetentionCounts{}
		sc, err := findSchoolByID(ctx, tx, schoolID)
		if inventory.ErrorCode(err) == inventory.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if n, err = db.purgeExpired(ctx, tx, schoolID, c); err != nil {
			return err
		}
		if n.Total() == 0 {
			return nil
		}
		e := inventory.RetentionPurgeEntry(sc, n, utc(at))
		if err := e.Validate(); err != nil {
			return err
		}
		return appendAudit(ctx, tx, e)
	})
	if err != nil {
		return inventory.RetentionCounts{}, err
	}
	return n, nil
}

// purgeExpired deletes the school's records older than their kind's
// cutoff in tx, and returns how many of each kind.
func (db *DB) purgeExpired(ctx context.Context, tx *sql.Tx, schoolID uuid.UUID, c inventory.RetentionCutoffs) (inventory.RetentionCounts, error) {
	var n inventory.RetentionCounts
	err := asRetentionPurge(ctx, tx, func() (err error) {
		for _, k := range []expiredKind{expiredEventRows, expiredPostureRows} {
			if k.cutoff(c).IsZero() {
				continue
			}
			if *k.count(&n), err = deleteWhere(ctx, tx, k.table, k.where, k.args(schoolID, c)...); err != nil {
				return err
			}
		}
		if !c.PINHistory.IsZero() {
			if n.PINHistory, err = db.purgePINHistory(ctx, tx, schoolID, c.PINHistory); err != nil {
				return err
			}
		}
		if !c.Loans.IsZero() {
			if n.Loans, n.Agreements, err = purgeLoans(ctx, tx, schoolID, c.Loans); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return inventory.RetentionCounts{}, err
	}
	return n, nil
}

// purgeLoans deletes the school's loans that ended before before, with
// their history and signed agreements, and returns how many loans and
// agreements it deleted. It reads the loans' IDs once and deletes the
// three tables' rows by those IDs, so that they are one set of loans.
func purgeLoans(ctx context.Context, tx *sql.Tx, schoolID uuid.UUID, before time.Time) (loans, agreements int, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM loans WHERE `+expiredLoans, schoolID, encodeTime(before))
	if err != nil {
		return 0, 0, fmt.Errorf("query old loans: %w", err)
	}
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("scan old loan: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("query old loans: %w", err)
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	// One parameter, a JSON array, holds any number of IDs.
	set, err := json.Marshal(ids)
	if err != nil {
		return 0, 0, err
	}
	const in = ` IN (SELECT value FROM json_each(?))`
	if _, err := deleteWhere(ctx, tx, "loan_events", `loan_id`+in, string(set)); err != nil {
		return 0, 0, err
	}
	if agreements, err = deleteWhere(ctx, tx, "loan_agreements", `loan_id`+in, string(set)); err != nil {
		return 0, 0, err
	}
	if loans, err = deleteWhere(ctx, tx, "loans", `id`+in, string(set)); err != nil {
		return 0, 0, err
	}
	return loans, agreements, nil
}

// deleteWhere deletes the rows of table that where selects with args,
// and returns how many.
func deleteWhere(ctx context.Context, tx *sql.Tx, table, where string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", table, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", table, err)
	}
	return int(n), nil
}

// asRetentionPurge runs fn with tx marked as a retention purge's, the
// only transactions in which the database lets a signed agreement be
// deleted (see migration 0010_retention). The mark is the row of
// retention_purge, inserted first and deleted after fn, so that it is
// never committed; if fn fails, the rollback removes it.
func asRetentionPurge(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_purge (id) VALUES (1)`); err != nil {
		return fmt.Errorf("mark retention purge: %w", err)
	}
	if err := fn(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_purge`); err != nil {
		return fmt.Errorf("unmark retention purge: %w", err)
	}
	return nil
}

// CountAuditBefore counts the audit entries PurgeAudit(before) would
// delete.
func (db *DB) CountAuditBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		below, err := auditExpiredBelow(ctx, tx, before)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE seq < ?`, below).Scan(&n); err != nil {
			return fmt.Errorf("count old audit entries: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PurgeAudit deletes the oldest part of the audit log, every entry before
// the first one written at or after before (all of them when none is),
// and in the same transaction keeps the last one deleted as the anchor
// and appends [inventory.AuditPurgeEntry] at time at (the store's time
// when zero), chained as any other entry. Returns the new anchor, or the
// zero anchor when there was nothing to delete, before is zero (which
// keeps every entry), and nothing was appended.
func (db *DB) PurgeAudit(ctx context.Context, before, at time.Time) (inventory.AuditAnchor, error) {
	if at.IsZero() {
		at = db.now()
	}
	var a inventory.AuditAnchor
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		a, err = purgeAudit(ctx, tx, before, utc(at))
		return err
	})
	if err != nil {
		return inventory.AuditAnchor{}, err
	}
	return a, nil
}

func purgeAudit(ctx context.Context, tx *sql.Tx, before, at time.Time) (inventory.AuditAnchor, error) {
	below, err := auditExpiredBelow(ctx, tx, before)
	if err != nil {
		return inventory.AuditAnchor{}, err
	}
	a := inventory.AuditAnchor{PurgedAt: at}
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT 1`, below).
		Scan(&a.Seq, &a.Hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return inventory.AuditAnchor{}, nil
	case err != nil:
		return inventory.AuditAnchor{}, fmt.Errorf("query last old audit entry: %w", err)
	}
	var first int64
	if err := tx.QueryRowContext(ctx, `SELECT min(seq) FROM audit_log`).Scan(&first); err != nil {
		return inventory.AuditAnchor{}, fmt.Errorf("query first audit entry: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq < ?`, below); err != nil {
		return inventory.AuditAnchor{}, fmt.Errorf("purge audit log: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_anchor (id, seq, hash, purged_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, purged_at = excluded.purged_at`,
		a.Seq, a.Hash, encodeTime(a.PurgedAt)); err != nil {
		return inventory.AuditAnchor{}, fmt.Errorf("store audit anchor: %w", err)
	}
	e := inventory.AuditPurgeEntry(first, a, before)
	e.Fit()
	if err := e.Validate(); err != nil {
		return inventory.AuditAnchor{}, err
	}
	e.At = utc(e.At)
	if err := appendAudit(ctx, tx, e); err != nil {
		return inventory.AuditAnchor{}, err
	}
	return a, nil
}

// auditExpiredBelow returns the sequence number below which
// PurgeAudit(before) deletes entries: that of the first entry written at
// or after before, or one past every entry when none was. For the zero
// time, which keeps every entry, it returns 0.
func auditExpiredBelow(ctx context.Context, tx *sql.Tx, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, nil
	}
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM audit_log WHERE at >= ? ORDER BY seq LIMIT 1`, encodeTime(before)).Scan(&seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return math.MaxInt64, nil
	case err != nil:
		return 0, fmt.Errorf("query first audit entry kept: %w", err)
	}
	return seq, nil
}
