package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// CreateEnrollToken stores t, filling ID and CreatedAt when zero. Returns
// ENOTFOUND if the school does not exist.
func (db *DB) CreateEnrollToken(ctx context.Context, t *inventory.EnrollToken) error {
	v := *t
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt, v.ExpiresAt, v.RevokedAt = utc(v.CreatedAt), utc(v.ExpiresAt), utc(v.RevokedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO enroll_tokens
			(id, school_id, secret_hash, max_uses, uses, expires_at, revoked_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.SchoolID, v.SecretHash, v.MaxUses, v.Uses,
			encodeTime(v.ExpiresAt), encodeTime(v.RevokedAt), encodeTime(v.CreatedAt))
		if _, ok := uniqueViolation(err); ok {
			return inventory.Errorf(inventory.ECONFLICT, "enrolment token %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert enrolment token: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// FindEnrollTokenByID returns ENOTFOUND if there is no such token.
func (db *DB) FindEnrollTokenByID(ctx context.Context, id uuid.UUID) (*inventory.EnrollToken, error) {
	var t *inventory.EnrollToken
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		t, err = findEnrollTokenByID(ctx, tx, id)
		return err
	})
	return t, err
}

// FindEnrollTokens returns the tokens of these schools (nil: every
// school; empty: none), newest first, at most limit (DefaultPageSize when
// zero or less, and never more than MaxPageSize).
func (db *DB) FindEnrollTokens(ctx context.Context, schoolIDs []uuid.UUID, limit int) ([]*inventory.EnrollToken, error) {
	all := []*inventory.EnrollToken{}
	if schoolIDs != nil && len(schoolIDs) == 0 {
		return all, nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var (
			a     sqlArgs
			where []string
		)
		if schoolIDs != nil {
			marks := make([]string, len(schoolIDs))
			for i, id := range schoolIDs {
				marks[i] = a.add(id)
			}
			where = append(where, "school_id IN ("+strings.Join(marks, ", ")+")")
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+enrollTokenColumns+` FROM enroll_tokens`+whereClause(where)+
			` ORDER BY created_at DESC, id DESC LIMIT `+a.add(inventory.DeviceFilter{Limit: limit}.PageLimit()), a...)
		if err != nil {
			return fmt.Errorf("query enrolment tokens: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanEnrollToken(rows)
			if err != nil {
				return err
			}
			all = append(all, t)
		}
		return rows.Err()
	})
	return all, err
}

// FindEnrollmentsByDevice returns a device's enrolments, newest first;
// none for an unknown device.
func (db *DB) FindEnrollmentsByDevice(ctx context.Context, deviceID uuid.UUID) ([]*inventory.Enrollment, error) {
	all := []*inventory.Enrollment{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+enrollmentColumns+` FROM enrollments
			WHERE device_id = ? ORDER BY created_at DESC, id DESC`, deviceID)
		if err != nil {
			return fmt.Errorf("query enrolments: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEnrollment(rows)
			if err != nil {
				return err
			}
			all = append(all, e)
		}
		return rows.Err()
	})
	return all, err
}

// RevokeEnrollToken marks a token revoked at at; a token that is revoked
// already keeps its first revocation time. Returns ENOTFOUND.
func (db *DB) RevokeEnrollToken(ctx context.Context, id uuid.UUID, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return revoke(ctx, tx, "enroll_tokens", "enrolment token", id, at)
	})
}

// EnrollDevice checks the token with [inventory.EnrollToken.Usable],
// counts one use, finds the school's device with the report's serial
// number or creates one, links it to the school's register entry with
// that serial or adds one, records the report and stores the enrolment,
// all in one transaction: on any error nothing is stored. Returns ENOTFOUND
// for an unknown token and the codes of Usable. Fills r.Enrollment's ID
// (when zero), DeviceID, SchoolID, TokenID and CreatedAt and returns the
// device.
func (db *DB) EnrollDevice(ctx context.Context, r *inventory.EnrollRequest) (*inventory.Device, error) {
	e := r.Enrollment
	if err := fillID(&e.ID); err != nil {
		return nil, err
	}
	var d *inventory.Device
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		d, err = enrollDevice(ctx, tx, r, &e)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Enrollment = e
	return d, nil
}

// enrollDevice does the work of EnrollDevice. The transaction is
// immediate, so the token row cannot change between reading and updating
// it.
func enrollDevice(ctx context.Context, tx *sql.Tx, r *inventory.EnrollRequest, e *inventory.Enrollment) (*inventory.Device, error) {
	tok, err := findEnrollTokenByID(ctx, tx, r.TokenID)
	if err != nil {
		return nil, err
	}
	if err := tok.Usable(r.SecretHash, r.At); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE enroll_tokens SET uses = uses + 1 WHERE id = ?`, tok.ID); err != nil {
		return nil, fmt.Errorf("count token use: %w", err)
	}

	sv, err := encodeVerdict(r.Verdict)
	if err != nil {
		return nil, err
	}
	h := &r.Report.Hardware
	hw, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode hardware: %w", err)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	at := encodeTime(r.At)
	d, err := scanDevice(tx.QueryRowContext(ctx, `INSERT INTO devices
			(id, school_id, hostname, make, model, serial, os_name, os_version,
			hardware, report_hash, last_seen_at, created_at, updated_at,
			hostname_key, serial_key, logged_in_user,
			verdict_status, status_rank, verdict_failing, verdict_unknown, verdict_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (school_id, serial) WHERE serial <> '' DO UPDATE SET
			hostname = excluded.hostname, make = excluded.make, model = excluded.model,
			os_name = excluded.os_name, os_version = excluded.os_version,
			hardware = excluded.hardware, report_hash = excluded.report_hash,
			last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at,
			hostname_key = excluded.hostname_key, logged_in_user = excluded.logged_in_user,
			verdict_status = excluded.verdict_status, status_rank = excluded.status_rank,
			verdict_failing = excluded.verdict_failing,
			verdict_unknown = excluded.verdict_unknown, verdict_until = excluded.verdict_until
		RETURNING `+deviceColumns,
		id, tok.SchoolID, h.Hostname, h.Make, h.Model, h.Serial, h.OSName, h.OSVersion,
		string(hw), r.ReportHash, at, at, at,
		strings.ToLower(h.Hostname), strings.ToLower(h.Serial), strings.ToLower(h.LoggedInUser),
		sv.status, sv.rank(), sv.failing, sv.unknown, encodeTime(sv.until)))
	if err != nil {
		return nil, fmt.Errorf("upsert device: %w", err)
	}
	if err := linkAsset(ctx, tx, d, h, r.At); err != nil {
		return nil, err
	}
	if err := saveRecoveryKeys(ctx, tx, d.ID, r.RecoveryKeys, encryptionRead(&r.Report), r.At); err != nil {
		return nil, err
	}
	if err := insertPosture(ctx, tx, d.ID, r.ReportHash, &r.Report.Posture, r.At); err != nil {
		return nil, err
	}

	e.DeviceID, e.SchoolID, e.TokenID, e.CreatedAt = d.ID, d.SchoolID, tok.ID, utc(r.At)
	e.CertNotAfter, e.RevokedAt = utc(e.CertNotAfter), utc(e.RevokedAt)
	if err := insertEnrollment(ctx, tx, e); err != nil {
		return nil, err
	}
	return d, nil
}

// FindEnrollmentByID returns ENOTFOUND if there is no such enrolment.
func (db *DB) FindEnrollmentByID(ctx context.Context, id uuid.UUID) (*inventory.Enrollment, error) {
	var e *inventory.Enrollment
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = findEnrollmentByID(ctx, tx, id)
		return err
	})
	return e, err
}

// FindEnrollments returns the enrolments with the given IDs.
func (db *DB) FindEnrollments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*inventory.Enrollment, error) {
	found := make(map[uuid.UUID]*inventory.Enrollment, len(ids))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			e, err := findEnrollmentByID(ctx, tx, id)
			switch {
			case inventory.ErrorCode(err) == inventory.ENOTFOUND:
			case err != nil:
				return err
			default:
				found[id] = e
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

func findEnrollmentByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.Enrollment, error) {
	e, err := scanEnrollment(tx.QueryRowContext(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "enrolment %s not found", id)
	}
	return e, err
}

// CreateEnrollment stores a renewal certificate for a device that is
// already enrolled, filling ID and CreatedAt when zero and SchoolID from
// the device. Returns ENOTFOUND for an unknown device (or token, when
// TokenID is set).
func (db *DB) CreateEnrollment(ctx context.Context, e *inventory.Enrollment) error {
	v := *e
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt, v.CertNotAfter, v.RevokedAt = utc(v.CreatedAt), utc(v.CertNotAfter), utc(v.RevokedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		d, err := findDeviceByID(ctx, tx, v.DeviceID)
		if err != nil {
			return err
		}
		v.SchoolID = d.SchoolID
		if v.TokenID != uuid.Nil {
			if _, err := findEnrollTokenByID(ctx, tx, v.TokenID); err != nil {
				return err
			}
		}
		return insertEnrollment(ctx, tx, &v)
	})
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// RevokeEnrollment marks an enrolment revoked at at; one that is revoked
// already keeps its first revocation time. Returns ENOTFOUND.
func (db *DB) RevokeEnrollment(ctx context.Context, id uuid.UUID, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return revoke(ctx, tx, "enrollments", "enrolment", id, at)
	})
}

// SupersedeEnrollments revokes the unrevoked enrolments of keep's device
// made before keep. Returns ENOTFOUND when keep does not exist.
func (db *DB) SupersedeEnrollments(ctx context.Context, keep uuid.UUID, at time.Time) (int, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		k, err := findEnrollmentByID(ctx, tx, keep)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE enrollments SET revoked_at = ?
			WHERE device_id = ? AND id <> ? AND revoked_at IS NULL AND created_at <= ?`,
			encodeTime(at), k.DeviceID, k.ID, encodeTime(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("supersede enrolments: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// revoke sets revoked_at of the row id in table unless it is set already.
// what names the record in the ENOTFOUND message.
func revoke(ctx context.Context, tx *sql.Tx, table, what string, id uuid.UUID, at time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
		encodeTime(at), id)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke %s: %w", what, err)
	} else if n == 0 {
		return inventory.Errorf(inventory.ENOTFOUND, "%s %s not found", what, id)
	}
	return nil
}

func findEnrollTokenByID(ctx context.Context, tx *sql.Tx, id uuid.UUID) (*inventory.EnrollToken, error) {
	t, err := scanEnrollToken(tx.QueryRowContext(ctx, `SELECT `+enrollTokenColumns+` FROM enroll_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "enrolment token %s not found", id)
	}
	return t, err
}

const enrollTokenColumns = `id, school_id, secret_hash, max_uses, uses, expires_at, revoked_at, created_at`

func scanEnrollToken(row rowScanner) (*inventory.EnrollToken, error) {
	var t inventory.EnrollToken
	err := row.Scan(&t.ID, &t.SchoolID, &t.SecretHash, &t.MaxUses, &t.Uses,
		timeScanner{&t.ExpiresAt}, timeScanner{&t.RevokedAt}, timeScanner{&t.CreatedAt})
	if err != nil {
		return nil, fmt.Errorf("scan enrolment token: %w", err)
	}
	return &t, nil
}

func insertEnrollment(ctx context.Context, tx *sql.Tx, e *inventory.Enrollment) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO enrollments
		(id, device_id, school_id, token_id, cert_serial, cert_not_after, revoked_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.DeviceID, e.SchoolID, nullUUID(e.TokenID), e.CertSerial,
		encodeTime(e.CertNotAfter), encodeTime(e.RevokedAt), encodeTime(e.CreatedAt))
	if _, ok := uniqueViolation(err); ok {
		return inventory.Errorf(inventory.ECONFLICT, "enrolment %s already exists", e.ID)
	} else if err != nil {
		return fmt.Errorf("insert enrolment: %w", err)
	}
	return nil
}

const enrollmentColumns = `id, device_id, school_id, token_id, cert_serial, cert_not_after, revoked_at, created_at`

func scanEnrollment(row rowScanner) (*inventory.Enrollment, error) {
	var e inventory.Enrollment
	err := row.Scan(&e.ID, &e.DeviceID, &e.SchoolID, uuidScanner{&e.TokenID}, &e.CertSerial,
		timeScanner{&e.CertNotAfter}, timeScanner{&e.RevokedAt}, timeScanner{&e.CreatedAt})
	if err != nil {
		return nil, fmt.Errorf("scan enrolment: %w", err)
	}
	return &e, nil
}
