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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?)`, v.ID, v.Email, v.Name, v.PasswordHash, encodeTime(v.CreatedAt))
		if what, ok := uniqueViolation(err); ok {
			if what == "users.email" {
				return inventory.Errorf(inventory.ECONFLICT, "email %s is already in use", v.Email)
			}
			return inventory.Errorf(inventory.ECONFLICT, "user %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*u = v
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
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, strings.ToLower(email)))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "no user has email %s", email)
		}
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO role_grants (user_id, school_id, role) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, g.UserID, nullUUID(g.SchoolID), string(g.Role)); err != nil {
			return fmt.Errorf("insert role grant: %w", err)
		}
		return nil
	})
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

func findUserByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "user %s not found", id)
	}
	return u, err
}

const userColumns = `id, email, name, password_hash, created_at`

func scanUser(row rowScanner) (*inventory.User, error) {
	var u inventory.User
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, timeScanner{&u.CreatedAt}); err != nil {
		return nil, fmt.Errorf("scan user: %w", err)
	}
	return &u, nil
}
