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
	// the order of the device's pages: each device keeps its latest.
	// The old ones are a range of posture_snapshots_received (or, device
	// by device, of posture_snapshots_device_received), the newer one a
	// range of posture_snapshots_device_received.
	expiredPosture = `posture_snapshots.device_id IN (SELECT id FROM devices WHERE school_id = ?1)
		AND posture_snapshots.received_at < ?2
		AND EXISTS (SELECT 1 FROM posture_snapshots AS newer WHERE newer.device_id = posture_snapshots.device_id
			AND (newer.received_at, newer.id) > (posture_snapshots.received_at, posture_snapshots.id))`
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
	// expiredLoanEvents selects the history of those loans.
	expiredLoanEvents = `loan_events.loan_id IN (SELECT loans.id FROM loans WHERE ` + expiredLoans + `)`
	// expiredAgreements selects the signed agreements of those loans.
	expiredAgreements = `loan_agreements.loan_id IN (SELECT loans.id FROM loans WHERE ` + expiredLoans + `)`
)

// expiredTable is a table whose old rows PurgeExpired deletes.
type expiredTable struct {
	table, where string
	// cutoff is the cutoff of the table's kind.
	cutoff func(c inventory.RetentionCutoffs) time.Time
	// count is where the table's rows are counted, or nil.
	count func(n *inventory.RetentionCounts) *int
	// purge deletes the rows, when a plain DELETE does not do.
	purge func(db *DB, ctx context.Context, tx *sql.Tx, schoolID uuid.UUID, before time.Time) (int, error)
}

// expiredTables are the tables PurgeExpired deletes from, in order: a
// loan's history and agreement before the loan.
var expiredTables = []expiredTable{
	{table: "events", where: expiredEvents,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.USBEvents },
		count:  func(n *inventory.RetentionCounts) *int { return &n.USBEvents }},
	{table: "posture_snapshots", where: expiredPosture,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Posture },
		count:  func(n *inventory.RetentionCounts) *int { return &n.Posture }},
	{table: "pin_history", where: expiredPINHistory,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.PINHistory },
		count:  func(n *inventory.RetentionCounts) *int { return &n.PINHistory },
		purge:  (*DB).purgePINHistory},
	{table: "loan_events", where: expiredLoanEvents,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Loans }},
	{table: "loan_agreements", where: expiredAgreements,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Loans },
		count:  func(n *inventory.RetentionCounts) *int { return &n.Agreements }},
	{table: "loans", where: expiredLoans,
		cutoff: func(c inventory.RetentionCutoffs) time.Time { return c.Loans },
		count:  func(n *inventory.RetentionCounts) *int { return &n.Loans }},
}

// CountExpired counts the school's records that PurgeExpired with the
// same cutoffs would delete.
func (db *DB) CountExpired(ctx context.Context, schoolID uuid.UUID, c inventory.RetentionCutoffs) (inventory.RetentionCounts, error) {
	var n inventory.RetentionCounts
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n = inventory.RetentionCounts{}
		for _, t := range expiredTables {
			before := t.cutoff(c)
			if t.count == nil || before.IsZero() {
				continue
			}
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.table+` WHERE `+t.where,
				schoolID, encodeTime(before)).Scan(t.count(&n)); err != nil {
				return fmt.Errorf("count old %s: %w", t.table, err)
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
// deletes. A zero cutoff deletes nothing of its kind. Returns what it
// deleted.
func (db *DB) PurgeExpired(ctx context.Context, schoolID uuid.UUID, c inventory.RetentionCutoffs) (inventory.RetentionCounts, error) {
	var n inventory.RetentionCounts
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n = inventory.RetentionCounts{}
		return asRetentionPurge(ctx, tx, func() error {
			for _, t := range expiredTables {
				before := t.cutoff(c)
				if before.IsZero() {
					continue
				}
				purge := t.purge
				if purge == nil {
					purge = t.delete
				}
				m, err := purge(db, ctx, tx, schoolID, before)
				if err != nil {
					return err
				}
				if t.count != nil {
					*t.count(&n) = m
				}
			}
			return nil
		})
	})
	if err != nil {
		return inventory.RetentionCounts{}, err
	}
	return n, nil
}

// delete deletes the school's rows of t older than before and returns
// how many.
func (t expiredTable) delete(_ *DB, ctx context.Context, tx *sql.Tx, schoolID uuid.UUID, before time.Time) (int, error) {
	return deleteExpired(ctx, tx, t.table, t.where, schoolID, before)
}

// deleteExpired deletes the rows of table that where selects for the
// school and the cutoff before, and returns how many.
func deleteExpired(ctx context.Context, tx *sql.Tx, table, where string, schoolID uuid.UUID, before time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+where, schoolID, encodeTime(before))
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
