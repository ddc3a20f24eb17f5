package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// auditLock is the key of the transaction advisory lock that serialises
// audit appends across every server using the database: "rcaudit1" in
// ASCII.
const auditLock int64 = 0x7263617564697431

// AppendAudit appends e: in one transaction it sets e.Seq to one more
// than the last entry's, e.PrevHash to the last entry's Hash (nil for the
// first entry), e.At to the stored time and e.Hash to e.ComputeHash().
// When a purge has left no entry, the entry follows the anchor instead
// (see [DB.FindAuditAnchor]). Appends take a transaction advisory lock
// first, so appends from every replica run one at a time and never fork
// the chain. Returns EINVALID when e fails
// [inventory.AuditEntry.Validate].
func (db *DB) AppendAudit(ctx context.Context, e *inventory.AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	v := *e
	v.At = utc(v.At)
	if err := db.auditTx(ctx, func(tx pgx.Tx) error { return appendAudit(ctx, tx, &v) }); err != nil {
		return err
	}
	*e = v
	return nil
}

// auditTx runs fn in a transaction that holds the audit lock, as every
// change of the audit log does. The transaction is read committed: the
// queries after the lock take a new snapshot, and so see the entries the
// previous holder of the lock committed.
func (db *DB) auditTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.runTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if err := lockAudit(ctx, tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// lockAudit takes the audit lock for the rest of tx, which must be read
// committed for the queries after it to see the entries the previous
// holder committed.
func lockAudit(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
		return fmt.Errorf("lock audit log: %w", err)
	}
	return nil
}

// appendAudit appends v, which the caller validated, as the next entry
// of the chain, in a transaction that holds the audit lock: it sets
// v.Seq and v.PrevHash to follow the last entry, or the anchor when
// there is none (Seq 1 and no PrevHash when there is neither), and
// v.Hash.
func appendAudit(ctx context.Context, tx pgx.Tx, v *inventory.AuditEntry) error {
	v.Seq, v.PrevHash = 0, nil
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&v.Seq, &v.PrevHash)
	if isNoRows(err) {
		a, err := findAuditAnchor(ctx, tx)
		if err != nil {
			return err
		}
		v.Seq, v.PrevHash = a.Seq, a.Hash
	} else if err != nil {
		return fmt.Errorf("query last audit entry: %w", err)
	}
	v.Seq++
	v.Hash = v.ComputeHash()
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		v.Seq, encodeTime(v.At), nullUUID(v.ActorID), v.Actor, nullUUID(v.SchoolID), v.Action, v.Record,
		v.Addr, v.Detail, v.PrevHash, v.Hash); err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

// FindAuditAnchor returns where the chain starts: the last entry a purge
// at the end of retention deleted, or the zero anchor.
func (db *DB) FindAuditAnchor(ctx context.Context) (inventory.AuditAnchor, error) {
	var a inventory.AuditAnchor
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		a, err = findAuditAnchor(ctx, tx)
		return err
	})
	return a, err
}

func findAuditAnchor(ctx context.Context, tx pgx.Tx) (inventory.AuditAnchor, error) {
	var a inventory.AuditAnchor
	err := tx.QueryRow(ctx, `SELECT seq, hash, purged_at FROM audit_anchor WHERE id = 1`).
		Scan(&a.Seq, &a.Hash, timeScanner{&a.PurgedAt})
	switch {
	case isNoRows(err):
		return inventory.AuditAnchor{}, nil
	case err != nil:
		return inventory.AuditAnchor{}, fmt.Errorf("query audit anchor: %w", err)
	}
	return a, nil
}

// FindAudit returns the entries f selects, newest first.
func (db *DB) FindAudit(ctx context.Context, f inventory.AuditFilter) ([]*inventory.AuditEntry, error) {
	var (
		where = []string{"TRUE"}
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Before > 0 {
		where = append(where, "seq < "+arg(f.Before))
	}
	if f.SchoolIDs != nil {
		where = append(where, "school_id = ANY("+arg(f.SchoolIDs)+")")
	}
	if f.ActorID != uuid.Nil {
		where = append(where, "actor_id = "+arg(f.ActorID))
	}
	if f.Action != "" {
		where = append(where, "starts_with(action, "+arg(f.Action)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(encodeTime(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < "+arg(encodeTime(f.Until)))
	}
	limit := arg(f.PageLimit())
	var all []*inventory.AuditEntry
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		all, err = findAudit(ctx, tx, `SELECT `+auditColumns+` FROM audit_log
			WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT `+limit, args...)
		return err
	})
	return all, err
}

// walkPage is how many audit entries WalkAudit reads at a time.
const walkPage = 1000

// WalkAudit calls fn with every entry in Seq order, stopping at the first
// error fn returns and returning it. It reads a page of entries at a time
// and calls fn outside any transaction, so fn may use the store.
func (db *DB) WalkAudit(ctx context.Context, fn func(*inventory.AuditEntry) error) error {
	var after int64
	for {
		var page []*inventory.AuditEntry
		err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
			page, err = findAudit(ctx, tx, `SELECT `+auditColumns+` FROM audit_log
				WHERE seq > $1 ORDER BY seq LIMIT $2`, after, walkPage)
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// findAudit runs query, a SELECT of auditColumns, and scans the entries.
func findAudit(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]*inventory.AuditEntry, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit log: %w", err)
	}
	defer rows.Close()
	all := []*inventory.AuditEntry{}
	for rows.Next() {
		var e inventory.AuditEntry
		if err := rows.Scan(&e.Seq, timeScanner{&e.At}, uuidScanner{&e.ActorID}, &e.Actor, uuidScanner{&e.SchoolID},
			&e.Action, &e.Record, &e.Addr, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("scan audit entry: %w", err)
		}
		all = append(all, &e)
	}
	return all, rows.Err()
}

const auditColumns = `seq, at, actor_id, actor, school_id, action, record, addr, detail, prev_hash, hash`
