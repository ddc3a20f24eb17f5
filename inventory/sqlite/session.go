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

// CreateSession stores s, filling ID and CreatedAt when zero. Returns
// EINVALID when s has no expiry, ENOTFOUND for an unknown user and
// ECONFLICT if the hash is taken.
func (db *DB) CreateSession(ctx context.Context, s *inventory.Session) error {
	if s.ExpiresAt.IsZero() {
		return inventory.Errorf(inventory.EINVALID, "session: no expiry")
	}
	v := *s
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt = utc(v.CreatedAt)
	v.LastSeenAt = utc(v.LastSeenAt)
	v.ExpiresAt = utc(v.ExpiresAt)
	v.SecondFactorAt = utc(v.SecondFactorAt)
	v.ReauthAt = utc(v.ReauthAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findUserByID(ctx, tx, v.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.Hash, v.UserID, encodeTime(v.CreatedAt), encodeTime(v.LastSeenAt), encodeTime(v.ExpiresAt),
			encodeTime(v.SecondFactorAt), encodeTime(v.ReauthAt), v.Addr, v.UserAgent)
		if what, ok := uniqueViolation(err); ok {
			if what == "sessions.hash" {
				return inventory.Errorf(inventory.ECONFLICT, "a session with this hash already exists")
			}
			return inventory.Errorf(inventory.ECONFLICT, "session %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// FindSessionByHash returns ENOTFOUND if no session has this hash.
// Expired sessions are still returned; the caller checks ExpiresAt.
func (db *DB) FindSessionByHash(ctx context.Context, hash []byte) (*inventory.Session, error) {
	var s *inventory.Session
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		s, err = scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "session not found")
		}
		return err
	})
	return s, err
}

// UpdateSession applies upd. Returns EINVALID when upd removes the
// expiry, and ENOTFOUND.
func (db *DB) UpdateSession(ctx context.Context, id uuid.UUID, upd inventory.SessionUpdate) error {
	if upd.ExpiresAt != nil && upd.ExpiresAt.IsZero() {
		return inventory.Errorf(inventory.EINVALID, "session: no expiry")
	}
	var (
		set  []string
		args []any
	)
	for _, f := range []struct {
		column string
		t      *time.Time
	}{
		{"last_seen_at", upd.LastSeenAt},
		{"expires_at", upd.ExpiresAt},
		{"second_factor_at", upd.SecondFactorAt},
		{"reauth_at", upd.ReauthAt},
	} {
		if f.t != nil {
			set = append(set, f.column+" = ?")
			args = append(args, encodeTime(*f.t))
		}
	}
	if len(set) == 0 {
		set = append(set, "id = id") // nothing to change, but the session must exist
	}
	args = append(args, id)
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
		if err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update session: %w", err)
		} else if n == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "session %s not found", id)
		}
		return nil
	})
}

// DeleteSession removes a session (sign-out). Deleting a session that
// does not exist is not an error.
func (db *DB) DeleteSession(ctx context.Context, id uuid.UUID) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

// DeleteUserSessions removes every session of a user and returns how many
// there were.
func (db *DB) DeleteUserSessions(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		n, err = deleteUserSessions(ctx, tx, userID)
		return err
	})
	return n, err
}

func deleteUserSessions(ctx context.Context, tx *sql.Tx, userID uuid.UUID) (int, error) {
	return deleteSessions(ctx, tx, `DELETE FROM sessions WHERE user_id = ?`, userID)
}

// DeleteExpiredSessions removes sessions that expired before before and
// returns how many.
func (db *DB) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		n, err = deleteSessions(ctx, tx, `DELETE FROM sessions WHERE expires_at < ?`, encodeTime(before))
		return err
	})
	return n, err
}

// deleteSessions runs query, a DELETE of sessions, and returns how many
// rows it removed.
func deleteSessions(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return int(n), nil
}

// RecordLoginFailure notes a failed sign-in under key (an email address,
// or "addr:" and a remote address) at at, or at the store's current time
// when at is zero.
func (db *DB) RecordLoginFailure(ctx context.Context, key string, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, at) VALUES (?, ?)`, key, encodeTime(at)); err != nil {
			return fmt.Errorf("insert login failure: %w", err)
		}
		return nil
	})
}

// CountLoginFailures returns how many failures key has had at or after
// since (ever, when since is zero), and when the newest of them was (zero
// when none).
func (db *DB) CountLoginFailures(ctx context.Context, key string, since time.Time) (n int, newest time.Time, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT count(*), max(at) FROM login_failures WHERE key = ? AND at >= ?`,
			key, utc(since).Format(timeFormat)).Scan(&n, timeScanner{&newest})
		if err != nil {
			return fmt.Errorf("count login failures: %w", err)
		}
		return nil
	})
	return n, newest, err
}

// ClearLoginFailures forgets key's failures (after a good sign-in).
func (db *DB) ClearLoginFailures(ctx context.Context, key string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, key); err != nil {
			return fmt.Errorf("delete login failures: %w", err)
		}
		return nil
	})
}

// DeleteLoginFailuresBefore forgets every failure older than before.
func (db *DB) DeleteLoginFailuresBefore(ctx context.Context, before time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE at < ?`, encodeTime(before)); err != nil {
			return fmt.Errorf("delete login failures: %w", err)
		}
		return nil
	})
}

const sessionColumns = `id, hash, user_id, created_at, last_seen_at, expires_at, second_factor_at, reauth_at, addr, user_agent`

func scanSession(row rowScanner) (*inventory.Session, error) {
	var s inventory.Session
	if err := row.Scan(&s.ID, &s.Hash, &s.UserID, timeScanner{&s.CreatedAt}, timeScanner{&s.LastSeenAt},
		timeScanner{&s.ExpiresAt}, timeScanner{&s.SecondFactorAt}, timeScanner{&s.ReauthAt}, &s.Addr, &s.UserAgent); err != nil {
		return nil, fmt.Errorf("scan session: %w", err)
	}
	return &s, nil
}
