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

// CreateUser stores u, filling ID and CreatedAt when zero and storing the
// email in lower case. Returns ECONFLICT if the email is taken.
func (db *DB) CreateUser(ctx context.Context, u *inventory.User) error {
	v := *u
	v.Email = strings.ToLower(v.Email)
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt = utc(v.CreatedAt)
	v.DisabledAt = utc(v.DisabledAt)
	v.TOTPConfirmedAt = utc(v.TOTPConfirmedAt)
	if len(v.TOTPSealed) == 0 {
		v.TOTPSealed = nil
	}
	if err := db.inTx(ctx, func(tx *sql.Tx) error { return createUser(ctx, tx, &v) }); err != nil {
		return err
	}
	*u = v
	return nil
}

// createUser inserts u, whose ID, CreatedAt and lower-case email are set.
func createUser(ctx context.Context, tx *sql.Tx, u *inventory.User) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, u.PasswordHash, encodeTime(u.CreatedAt),
		encodeTime(u.DisabledAt), u.TOTPSealed, encodeTime(u.TOTPConfirmedAt), u.TOTPLastStep)
	if what, ok := uniqueViolation(err); ok {
		if what == "users.email" {
			return inventory.Errorf(inventory.ECONFLICT, "email %s is already in use", u.Email)
		}
		return inventory.Errorf(inventory.ECONFLICT, "user %s already exists", u.ID)
	} else if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// FindUserByID returns ENOTFOUND if there is no such user.
func (db *DB) FindUserByID(ctx context.Context, id uuid.UUID) (*inventory.User, error) {
	var u *inventory.User
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		u, err = findUserByID(ctx, tx, id)
		return err
	})
	return u, err
}

// FindUserByEmail returns ENOTFOUND if there is no such user. The email is
// matched without regard to case.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*inventory.User, error) {
	var u *inventory.User
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		u, err = findUserByEmail(ctx, tx, email)
		return err
	})
	return u, err
}

// GrantRole stores g; granting a role the user already holds is not an
// error. Returns EINVALID for a bad grant and ENOTFOUND for an unknown user
// or school.
func (db *DB) GrantRole(ctx context.Context, g inventory.RoleGrant) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findUserByID(ctx, tx, g.UserID); err != nil {
			return err
		}
		if g.SchoolID != uuid.Nil {
			if _, err := findSchoolByID(ctx, tx, g.SchoolID); err != nil {
				return err
			}
		}
		return grantRole(ctx, tx, g)
	})
}

// grantRole inserts g unless the user holds it already.
func grantRole(ctx context.Context, tx *sql.Tx, g inventory.RoleGrant) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO role_grants (user_id, school_id, role) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, g.UserID, nullUUID(g.SchoolID), string(g.Role)); err != nil {
		return fmt.Errorf("insert role grant: %w", err)
	}
	return nil
}

// FindRoleGrants returns every grant of a user, org-wide grants first.
func (db *DB) FindRoleGrants(ctx context.Context, userID uuid.UUID) ([]inventory.RoleGrant, error) {
	var all []inventory.RoleGrant
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT user_id, school_id, role FROM role_grants
			WHERE user_id = ? ORDER BY school_id NULLS FIRST, role`, userID)
		if err != nil {
			return fmt.Errorf("query role grants: %w", err)
		}
		defer rows.Close()
		all = []inventory.RoleGrant{}
		for rows.Next() {
			var (
				g    inventory.RoleGrant
				role string
			)
			if err := rows.Scan(&g.UserID, uuidScanner{&g.SchoolID}, &role); err != nil {
				return fmt.Errorf("scan role grant: %w", err)
			}
			g.Role = inventory.Role(role)
			all = append(all, g)
		}
		return rows.Err()
	})
	return all, err
}

// CreateAPIToken stores t, filling ID and CreatedAt when zero. Returns
// ENOTFOUND for an unknown user and ECONFLICT if the hash is in use.
func (db *DB) CreateAPIToken(ctx context.Context, t *inventory.APIToken) error {
	v := *t
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt = utc(v.CreatedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findUserByID(ctx, tx, v.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, user_id, hash, created_at) VALUES (?, ?, ?, ?)`,
			v.ID, v.UserID, v.Hash, encodeTime(v.CreatedAt))
		if what, ok := uniqueViolation(err); ok {
			if what == "api_tokens.hash" {
				return inventory.Errorf(inventory.ECONFLICT, "an API token with this hash already exists")
			}
			return inventory.Errorf(inventory.ECONFLICT, "API token %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert api token: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// FindAPITokenByHash returns ENOTFOUND if no token has this hash.
func (db *DB) FindAPITokenByHash(ctx context.Context, hash []byte) (*inventory.APIToken, error) {
	var t inventory.APIToken
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, user_id, hash, created_at FROM api_tokens WHERE hash = ?`, hash).
			Scan(&t.ID, &t.UserID, &t.Hash, timeScanner{&t.CreatedAt})
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "API token not found")
		} else if err != nil {
			return fmt.Errorf("query api token: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// FindUsers returns the people f selects, ordered by email: with
// f.SchoolIDs, those holding a role in one of those schools and the
// organisation admins; without, everyone.
func (db *DB) FindUsers(ctx context.Context, f inventory.UserFilter) ([]*inventory.User, error) {
	var all []*inventory.User
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		all, err = findUsers(ctx, tx, f)
		return err
	})
	return all, err
}

func findUsers(ctx context.Context, tx *sql.Tx, f inventory.UserFilter) ([]*inventory.User, error) {
	var (
		where = "TRUE"
		args  []any
	)
	if f.SchoolIDs != nil {
		in := "role = 'org_admin'"
		if len(f.SchoolIDs) > 0 {
			in += " OR school_id IN (" + qmarks(len(f.SchoolIDs)) + ")"
			for _, id := range f.SchoolIDs {
				args = append(args, id)
			}
		}
		where = "EXISTS (SELECT 1 FROM role_grants WHERE role_grants.user_id = users.id AND (" + in + "))"
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where+` ORDER BY email`, args...)
	if err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	defer rows.Close()
	all := []*inventory.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, u)
	}
	return all, rows.Err()
}

// qmarks returns n comma-separated placeholders.
func qmarks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// RevokeRole removes a grant; removing one the user does not hold is not
// an error. Returns EINVALID for a bad grant and ENOTFOUND for an unknown
// user.
func (db *DB) RevokeRole(ctx context.Context, g inventory.RoleGrant) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findUserByID(ctx, tx, g.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_grants WHERE user_id = ? AND school_id IS ? AND role = ?`,
			g.UserID, nullUUID(g.SchoolID), string(g.Role)); err != nil {
			return fmt.Errorf("delete role grant: %w", err)
		}
		return nil
	})
}

// SetPassword replaces a user's password hash. Returns ENOTFOUND.
func (db *DB) SetPassword(ctx context.Context, userID uuid.UUID, hash string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return updateUser(ctx, tx, userID, "set password", `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	})
}

// SetUserDisabled disables the user at at, or enables them when at is
// zero. Disabling also deletes their sessions, in the same transaction.
// Returns ENOTFOUND.
func (db *DB) SetUserDisabled(ctx context.Context, userID uuid.UUID, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := updateUser(ctx, tx, userID, "set disabled", `UPDATE users SET disabled_at = ? WHERE id = ?`,
			encodeTime(at), userID); err != nil {
			return err
		}
		if at.IsZero() {
			return nil
		}
		_, err := deleteUserSessions(ctx, tx, userID)
		return err
	})
}

// SetTOTP stores a sealed TOTP secret and when it was confirmed (zero
// while set-up is unfinished), resetting TOTPLastStep to zero; a nil or
// empty secret removes TOTP, confirmation included. Returns ENOTFOUND.
func (db *DB) SetTOTP(ctx context.Context, userID uuid.UUID, sealed []byte, confirmedAt time.Time) error {
	var secret any
	if len(sealed) > 0 {
		secret = sealed
	} else {
		confirmedAt = time.Time{}
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return updateUser(ctx, tx, userID, "set totp",
			`UPDATE users SET totp_sealed = ?, totp_confirmed_at = ?, totp_last_step = 0 WHERE id = ?`,
			secret, encodeTime(confirmedAt), userID)
	})
}

// UseTOTPStep records that a code of time step step was accepted.
// Returns ECONFLICT when step is not after TOTPLastStep (the code was
// used already), and ENOTFOUND.
func (db *DB) UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`,
			step, userID, step)
		if err != nil {
			return fmt.Errorf("use totp step: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("use totp step: %w", err)
		} else if n == 1 {
			return nil
		}
		u, err := findUserByID(ctx, tx, userID)
		if err != nil {
			return err
		}
		return inventory.Errorf(inventory.ECONFLICT, "TOTP time step %d is not after %d, the last one used: the code was used already", step, u.TOTPLastStep)
	})
}

// ReplaceRecoveryCodes replaces a user's recovery codes with the given
// SHA-256 hashes, unused; a hash given twice is stored once. Returns
// ENOTFOUND.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID uuid.UUID, hashes [][]byte) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findUserByID(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)
				ON CONFLICT DO NOTHING`, userID, h); err != nil {
				return fmt.Errorf("insert recovery code: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks the unused code with this hash used at at (the
// store's current time when at is zero). Returns ENOTFOUND when the user
// has no unused code with that hash.
func (db *DB) UseRecoveryCode(ctx context.Context, userID uuid.UUID, hash []byte, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ?
			WHERE user_id = ? AND hash = ? AND used_at IS NULL`, encodeTime(at), userID, hash)
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		} else if n == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "user %s has no unused recovery code with this hash", userID)
		}
		return nil
	})
}

// CountRecoveryCodes returns how many unused codes a user has.
func (db *DB) CountRecoveryCodes(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`,
			userID).Scan(&n)
		if err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		return nil
	})
	return n, err
}

// updateUser runs query, an UPDATE of one user, and returns ENOTFOUND if it
// changed no row.
func updateUser(ctx context.Context, tx *sql.Tx, userID uuid.UUID, what, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return inventory.Errorf(inventory.ENOTFOUND, "user %s not found", userID)
	}
	return nil
}

func findUserByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "user %s not found", id)
	}
	return u, err
}

func findUserByEmail(ctx context.Context, tx *sql.Tx, email string) (*inventory.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, strings.ToLower(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "no user has email %s", email)
	}
	return u, err
}

const userColumns = `id, email, name, password_hash, created_at, disabled_at, totp_sealed, totp_confirmed_at, totp_last_step`

func scanUser(row rowScanner) (*inventory.User, error) {
	var u inventory.User
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, timeScanner{&u.CreatedAt},
		timeScanner{&u.DisabledAt}, &u.TOTPSealed, timeScanner{&u.TOTPConfirmedAt}, &u.TOTPLastStep); err != nil {
		return nil, fmt.Errorf("scan user: %w", err)
	}
	if len(u.TOTPSealed) == 0 {
		u.TOTPSealed = nil
	}
	return &u, nil
}
