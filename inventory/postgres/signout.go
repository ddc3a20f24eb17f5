package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// CreateSignOut stores s, filling ID, SchoolID (the kit's, when zero) and
// OutAt (the store's time, when zero). Returns ECONFLICT when the kit is
// out already, is not shared, or may not be lent; EINVALID for kit of
// another school than s.SchoolID; ENOTFOUND for unknown kit or person.
func (db *DB) CreateSignOut(ctx context.Context, s *inventory.SignOut) error {
	v := *s
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.OutAt.IsZero() {
		v.OutAt = db.now()
	}
	v.OutAt, v.DueBack, v.BackAt = utc(v.OutAt), utc(v.DueBack), utc(v.BackAt)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		a, err := findAssetByID(ctx, tx, v.AssetID, true)
		if err != nil {
			return err
		}
		if err := checkSignOutAsset(&v, a); err != nil {
			return err
		}
		for _, id := range []uuid.UUID{v.UserID, v.OutBy} {
			if _, err := findUserByID(ctx, tx, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO sign_outs (`+signOutColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			v.ID, v.SchoolID, v.AssetID, v.UserID, v.OutBy, encodeTime(v.OutAt), encodeTime(v.DueBack),
			encodeTime(v.BackAt), nullUUID(v.BackBy))
		if what, ok := uniqueViolation(err); ok {
			if what == "sign_outs_out_asset_key" {
				return inventory.Errorf(inventory.ECONFLICT, "%s is signed out already: sign it back in first", a.Label())
			}
			return inventory.Errorf(inventory.ECONFLICT, "sign-out %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert sign-out: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// checkSignOutAsset checks that kit a may be signed out by s, filling
// s.SchoolID when zero.
func checkSignOutAsset(s *inventory.SignOut, a *inventory.Asset) error {
	if s.SchoolID == uuid.Nil {
		s.SchoolID = a.SchoolID
	}
	switch {
	case a.SchoolID != s.SchoolID:
		return inventory.Errorf(inventory.EINVALID, "%s belongs to another school", a.Label())
	case !a.Shared:
		return inventory.Errorf(inventory.ECONFLICT, "%s is not shared kit: lend it with a loan instead", a.Label())
	case !a.Status.Lendable():
		return inventory.Errorf(inventory.ECONFLICT, "%s is %s and cannot be signed out",
			a.Label(), strings.ReplaceAll(string(a.Status), "_", " "))
	}
	return nil
}

// ReturnSignOut records the kit back at at (the store's time when zero),
// received by by. Returns ECONFLICT if it is back already and ENOTFOUND
// for an unknown sign-out or person.
func (db *DB) ReturnSignOut(ctx context.Context, id, by uuid.UUID, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		s, err := findSignOutByID(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !s.Out() {
			return inventory.Errorf(inventory.ECONFLICT, "this kit was signed back in already, at %s", s.BackAt.Format(time.DateTime))
		}
		if _, err := findUserByID(ctx, tx, by); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sign_outs SET back_at = $1, back_by = $2 WHERE id = $3 AND back_at IS NULL`,
			encodeTime(at), by, id); err != nil {
			return fmt.Errorf("return sign-out: %w", err)
		}
		return nil
	})
}

// FindSignOutByID returns ENOTFOUND if there is no such sign-out.
func (db *DB) FindSignOutByID(ctx context.Context, id uuid.UUID) (*inventory.SignOut, error) {
	var s *inventory.SignOut
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		s, err = findSignOutByID(ctx, tx, id, false)
		return err
	})
	return s, err
}

// findSignOutByID reads a sign-out, locking its row until the transaction
// ends when forUpdate is set.
func findSignOutByID(ctx context.Context, tx pgx.Tx, id uuid.UUID, forUpdate bool) (*inventory.SignOut, error) {
	q := `SELECT ` + signOutColumns + ` FROM sign_outs WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	s, err := scanSignOut(tx.QueryRow(ctx, q, id))
	if isNoRows(err) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "sign-out %s not found", id)
	}
	return s, err
}

// FindSignOuts returns sign-outs matching f, newest first.
func (db *DB) FindSignOuts(ctx context.Context, f inventory.SignOutFilter) ([]*inventory.SignOut, error) {
	all := []*inventory.SignOut{}
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
		if f.OnlyOut {
			where = append(where, "back_at IS NULL")
		}
		if f.AssetID != uuid.Nil {
			where = append(where, "asset_id = "+a.add(f.AssetID))
		}
		if f.UserID != uuid.Nil {
			where = append(where, "user_id = "+a.add(f.UserID))
		}
		rows, err := tx.Query(ctx, `SELECT `+signOutColumns+` FROM sign_outs`+whereClause(where)+
			` ORDER BY out_at DESC, id DESC LIMIT `+a.add(f.PageLimit()), a...)
		if err != nil {
			return fmt.Errorf("query sign-outs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scanSignOut(rows)
			if err != nil {
				return err
			}
			all = append(all, s)
		}
		return rows.Err()
	})
	return all, err
}

const signOutColumns = `id, school_id, asset_id, user_id, out_by, out_at, due_back, back_at, back_by`

func scanSignOut(row pgx.Row) (*inventory.SignOut, error) {
	var s inventory.SignOut
	err := row.Scan(&s.ID, &s.SchoolID, &s.AssetID, &s.UserID, &s.OutBy, timeScanner{&s.OutAt},
		timeScanner{&s.DueBack}, timeScanner{&s.BackAt}, uuidScanner{&s.BackBy})
	if isNoRows(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan sign-out: %w", err)
	}
	return &s, nil
}
