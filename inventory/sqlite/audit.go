package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// AppendAudit appends e: in one transaction it sets e.Seq to one more
// than the last entry's, e.PrevHash to the last entry's Hash (nil for the
// first entry), e.At to the stored time and e.Hash to e.ComputeHash().
// When a purge has left no entry, the entry follows the anchor instead
// (see [DB.FindAuditAnchor]). The pool's single connection and the
// immediate transaction serialise appends. Returns EINVALID when e fails
// [inventory.AuditEntry.Validate].
func (db *DB) AppendAudit(ctx context.Context, e *inventory.AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	v := *e
	v.At = utc(v.At)
	if err := db.inTx(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, &v) }); err != nil {
		return err
	}
	*e = v
	return nil
}

// appendAudit appends v, which the caller validated, as the next entry
// of the chain: it sets v.Seq and v.PrevHash to follow the last entry,
// or the anchor when there is none (Seq 1 and no PrevHash when there is
// neither), and v.Hash.
func appendAudit(ctx context.Context, tx *sql.Tx, v *inventory.AuditEntry) error {
	v.Seq, v.PrevHash = 0, nil
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&v.Seq, &v.PrevHash)
	if errors.Is(err, sql.ErrNoRows) {
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		a, err = findAuditAnchor(ctx, tx)
		return err
	})
	return a, err
}

func findAuditAnchor(ctx context.Context, tx *sql.Tx) (inventory.AuditAnchor, error) {
	var a inventory.AuditAnchor
	err := tx.QueryRowContext(ctx, `SELECT seq, hash, purged_at FROM audit_anchor WHERE id = 1`).
		Scan(&a.Seq, &a.Hash, timeScanner{&a.PurgedAt})
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	if f.Before > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.Before)
	}
	if f.SchoolIDs != nil {
		cond := "FALSE"
		if len(f.SchoolIDs) > 0 {
			cond = "school_id IN (" + qmarks(len(f.SchoolIDs)) + ")"
			for _, id := range f.SchoolIDs {
				args = append(args, id)
			}
		}
		where = append(where, cond)
	}
	if f.ActorID != uuid.Nil {
		where = append(where, "actor_id = ?")
		args = append(args, f.ActorID)
	}
	if f.Action != "" {
		// A range on the (action, seq) index: text compares as bytes.
		where = append(where, "action >= ?")
		args = append(args, f.Action)
		if end, ok := prefixEnd(f.Action); ok {
			where = append(where, "action < ?")
			args = append(args, end)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, encodeTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, encodeTime(f.Until))
	}
	args = append(args, f.PageLimit())
	var all []*inventory.AuditEntry
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		all, err = findAudit(ctx, tx, `SELECT `+auditColumns+` FROM audit_log
			WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...)
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
		err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
			page, err = findAudit(ctx, tx, `SELECT `+auditColumns+` FROM audit_log
				WHERE seq > ? ORDER BY seq LIMIT ?`, after, walkPage)
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
func findAudit(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]*inventory.AuditEntry, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
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

// prefixEnd returns the least string greater than every string that
// starts with p, or false when there is none (p is all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

const auditColumns = `seq, at, actor_id, actor, school_id, action, record, addr, detail, prev_hash, hash`
