package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// CreateInvite stores inv, filling ID and CreatedAt when zero and storing
// the email in lower case. Returns EINVALID when inv fails
// [inventory.Invite.Validate], ENOTFOUND for an unknown school or inviter
// and ECONFLICT if the hash is taken.
func (db *DB) CreateInvite(ctx context.Context, inv *inventory.Invite) error {
	if err := inv.Validate(); err != nil {
		return err
	}
	v := *inv
	v.Email, _ = inventory.NormalizeEmail(v.Email) // valid: Validate checked it
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt = utc(v.CreatedAt)
	v.ExpiresAt = utc(v.ExpiresAt)
	v.AcceptedAt = utc(v.AcceptedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if v.SchoolID != uuid.Nil {
			if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
				return err
			}
		}
		if _, err := findUserByID(ctx, tx, v.CreatedBy); inventory.ErrorCode(err) == inventory.ENOTFOUND {
			return inventory.Errorf(inventory.ENOTFOUND, "inviter %s not found", v.CreatedBy)
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO invites (`+inviteColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.Hash, v.Email, v.Name, nullUUID(v.SchoolID), string(v.Role), v.CreatedBy,
			encodeTime(v.CreatedAt), encodeTime(v.ExpiresAt), encodeTime(v.AcceptedAt))
		if what, ok := uniqueViolation(err); ok {
			if what == "invites.hash" {
				return inventory.Errorf(inventory.ECONFLICT, "an invite with this hash already exists")
			}
			return inventory.Errorf(inventory.ECONFLICT, "invite %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert invite: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*inv = v
	return nil
}

// FindInviteByHash returns ENOTFOUND if no invite has this hash.
func (db *DB) FindInviteByHash(ctx context.Context, hash []byte) (*inventory.Invite, error) {
	var inv *inventory.Invite
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		inv, err = scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM invites WHERE hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "invite not found")
		}
		return err
	})
	return inv, err
}

// FindInvites returns the invites of these schools (nil: every school,
// organisation-wide invites included) that are neither accepted nor
// expired at now, newest first.
func (db *DB) FindInvites(ctx context.Context, schoolIDs []uuid.UUID, now time.Time) ([]*inventory.Invite, error) {
	if schoolIDs != nil && len(schoolIDs) == 0 {
		return []*inventory.Invite{}, nil
	}
	where, args := "accepted_at IS NULL AND expires_at > ?", []any{encodeTime(now)}
	if schoolIDs != nil {
		where += " AND school_id IN (" + qmarks(len(schoolIDs)) + ")"
		for _, id := range schoolIDs {
			args = append(args, id)
		}
	}
	all := []*inventory.Invite{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+inviteColumns+` FROM invites
			WHERE `+where+` ORDER BY created_at DESC, id DESC`, args...)
		if err != nil {
			return fmt.Errorf("query invites: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			inv, err := scanInvite(rows)
			if err != nil {
				return err
			}
			all = append(all, inv)
		}
		return rows.Err()
	})
	return all, err
}

// AcceptInvite, in one transaction, checks the invite is unused
// (ECONFLICT) and unexpired at at (EEXPIRED), creates the user with the
// invite's email and name and passwordHash — or, when a user has that
// email already, keeps them and their password — grants the invite's role
// and marks the invite accepted. Returns the user, and ENOTFOUND for an
// unknown invite. A zero at means the store's current time.
func (db *DB) AcceptInvite(ctx context.Context, id uuid.UUID, passwordHash string, at time.Time) (*inventory.User, error) {
	if at.IsZero() {
		at = db.now()
	}
	at = utc(at)
	var u *inventory.User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		inv, err := scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM invites WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "invite %s not found", id)
		} else if err != nil {
			return err
		}
		if err := inviteUsable(inv, at); err != nil {
			return err
		}
		u, err = findUserByEmail(ctx, tx, inv.Email)
		if inventory.ErrorCode(err) == inventory.ENOTFOUND {
			u = &inventory.User{Email: inv.Email, Name: inv.Name, PasswordHash: passwordHash, CreatedAt: at}
			if err := fillID(&u.ID); err != nil {
				return err
			}
			err = createUser(ctx, tx, u)
		}
		if err != nil {
			return err
		}
		if err := grantRole(ctx, tx, inventory.RoleGrant{UserID: u.ID, SchoolID: inv.SchoolID, Role: inv.Role}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invites SET accepted_at = ? WHERE id = ?`, encodeTime(at), id); err != nil {
			return fmt.Errorf("mark invite accepted: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// inviteUsable returns ECONFLICT if inv was accepted already and EEXPIRED
// if it has expired at at.
func inviteUsable(inv *inventory.Invite, at time.Time) error {
	switch {
	case !inv.AcceptedAt.IsZero():
		return inventory.Errorf(inventory.ECONFLICT, "invite for %s was accepted already, on %s",
			inv.Email, inv.AcceptedAt.Format(time.RFC3339))
	case !at.Before(inv.ExpiresAt):
		return inventory.Errorf(inventory.EEXPIRED, "invite for %s expired on %s", inv.Email, inv.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

const inviteColumns = `id, hash, email, name, school_id, role, created_by, created_at, expires_at, accepted_at`

func scanInvite(row rowScanner) (*inventory.Invite, error) {
	var (
		inv  inventory.Invite
		role string
	)
	if err := row.Scan(&inv.ID, &inv.Hash, &inv.Email, &inv.Name, uuidScanner{&inv.SchoolID}, &role, &inv.CreatedBy,
		timeScanner{&inv.CreatedAt}, timeScanner{&inv.ExpiresAt}, timeScanner{&inv.AcceptedAt}); err != nil {
		return nil, fmt.Errorf("scan invite: %w", err)
	}
	inv.Role = inventory.Role(role)
	return &inv, nil
}
