package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO enroll_tokens
			(id, school_id, secret_hash, max_uses, uses, expires_at, revoked_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		t, err = findEnrollTokenByID(ctx, tx, id, false)
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
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		var (
			a     sqlArgs
			where []string
		)
		if schoolIDs != nil {
			where = append(where, "school_id = ANY("+a.add(schoolIDs)+")")
		}
		rows, err := tx.Query(ctx, `SELECT `+enrollTokenColumns+` FROM enroll_tokens`+whereClause(where)+
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
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+enrollmentColumns+` FROM enrollments
			WHERE device_id = $1 ORDER BY created_at DESC, id DESC`, deviceID)
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
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
	err := db.inTx(ctx, func(tx pgx.Tx) (err error) {
		d, err = enrollDevice(ctx, tx, r, &e)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Enrollment = e
	return d, nil
}

// enrollDevice does the work of EnrollDevice. It locks the token row
// first, so concurrent enrolments with one token take turns and never
// count more uses than it has.
func enrollDevice(ctx context.Context, tx pgx.Tx, r *inventory.EnrollRequest, e *inventory.Enrollment) (*inventory.Device, error) {
	tok, err := findEnrollTokenByID(ctx, tx, r.TokenID, true)
	if err != nil {
		return nil, err
	}
	if err := tok.Usable(r.SecretHash, r.At); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE enroll_tokens SET uses = uses + 1 WHERE id = $1`, tok.ID); err != nil {
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
	// A device with the same serial in the school is updated instead; the
	// upsert also settles a race with an enrolment through another token.
	d, err := scanDevice(tx.QueryRow(ctx, `INSERT INTO devices
			(id, school_id, hostname, make, model, serial, os_name, os_version,
			hardware, report_hash, last_seen_at, created_at, updated_at,
			hostname_key, serial_key, logged_in_user,
			verdict_status, verdict_failing, verdict_unknown, verdict_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (school_id, serial) WHERE serial <> '' DO UPDATE SET
			hostname = excluded.hostname, make = excluded.make, model = excluded.model,
			os_name = excluded.os_name, os_version = excluded.os_version,
			hardware = excluded.hardware, report_hash = excluded.report_hash,
			last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at,
			hostname_key = excluded.hostname_key, logged_in_user = excluded.logged_in_user,
			verdict_status = excluded.verdict_status, verdict_failing = excluded.verdict_failing,
			verdict_unknown = excluded.verdict_unknown, verdict_until = excluded.verdict_until
		RETURNING `+deviceColumns,
		id, tok.SchoolID, h.Hostname, h.Make, h.Model, h.Serial, h.OSName, h.OSVersion,
		hw, r.ReportHash, encodeTime(r.At),
		strings.ToLower(h.Hostname), strings.ToLower(h.Serial), strings.ToLower(h.LoggedInUser),
		sv.status, sv.failing, sv.unknown, encodeTime(sv.until)))
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
	// One statement needs no transaction: every agent call reads its
	// enrolment.
	e, err := findEnrollmentByID(ctx, db.pool, id)
	return e, formatError(err)
}

// FindEnrollments returns the enrolments with the given IDs, in one
// statement.
func (db *DB) FindEnrollments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*inventory.Enrollment, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, formatError(fmt.Errorf("query enrolments: %w", err))
	}
	defer rows.Close()
	found := make(map[uuid.UUID]*inventory.Enrollment, len(ids))
	for rows.Next() {
		e, err := scanEnrollment(rows)
		if err != nil {
			return nil, err
		}
		found[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("query enrolments: %w", err))
	}
	return found, nil
}

func findEnrollmentByID(ctx context.Context, tx rowQuerier, id uuid.UUID) (*inventory.Enrollment, error) {
	e, err := scanEnrollment(tx.QueryRow(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = $1`, id))
	if isNoRows(err) {
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
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		d, err := findDeviceByID(ctx, tx, v.DeviceID)
		if err != nil {
			return err
		}
		v.SchoolID = d.SchoolID
		if v.TokenID != uuid.Nil {
			if _, err := findEnrollTokenByID(ctx, tx, v.TokenID, false); err != nil {
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
		return revoke(ctx, tx, "enrollments", "enrolment", id, at)
	})
}

// SupersedeEnrollments revokes the unrevoked enrolments of keep's device
// made before keep. Returns ENOTFOUND when keep does not exist.
func (db *DB) SupersedeEnrollments(ctx context.Context, keep uuid.UUID, at time.Time) (int, error) {
	var n int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		k, err := findEnrollmentByID(ctx, tx, keep)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE enrollments SET revoked_at = $1
			WHERE device_id = $2 AND id <> $3 AND revoked_at IS NULL AND created_at <= $4`,
			encodeTime(at), k.DeviceID, k.ID, encodeTime(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("supersede enrolments: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}

// revoke sets revoked_at of the row id in table unless it is set already.
// what names the record in the ENOTFOUND message.
func revoke(ctx context.Context, tx pgx.Tx, table, what string, id uuid.UUID, at time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE `+table+` SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`,
		encodeTime(at), id)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return inventory.Errorf(inventory.ENOTFOUND, "%s %s not found", what, id)
	}
	return nil
}

// findEnrollTokenByID reads a token, locking its row until the
// transaction ends when forUpdate is set.
func findEnrollTokenByID(ctx context.Context, tx pgx.Tx, id uuid.UUID, forUpdate bool) (*inventory.EnrollToken, error) {
	q := `SELECT ` + enrollTokenColumns + ` FROM enroll_tokens WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	t, err := scanEnrollToken(tx.QueryRow(ctx, q, id))
	if isNoRows(err) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "enrolment token %s not found", id)
	}
	return t, err
}

const enrollTokenColumns = `id, school_id, secret_hash, max_uses, uses, expires_at, revoked_at, created_at`

func scanEnrollToken(row pgx.Row) (*inventory.EnrollToken, error) {
	var t inventory.EnrollToken
	err := row.Scan(&t.ID, &t.SchoolID, &t.SecretHash, &t.MaxUses, &t.Uses,
		timeScanner{&t.ExpiresAt}, timeScanner{&t.RevokedAt}, timeScanner{&t.CreatedAt})
	if err != nil {
		return nil, fmt.Errorf("scan enrolment token: %w", err)
	}
	return &t, nil
}

func insertEnrollment(ctx context.Context, tx pgx.Tx, e *inventory.Enrollment) error {
	_, err := tx.Exec(ctx, `INSERT INTO enrollments
		(id, device_id, school_id, token_id, cert_serial, cert_not_after, revoked_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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

func scanEnrollment(row pgx.Row) (*inventory.Enrollment, error) {
	var e inventory.Enrollment
	err := row.Scan(&e.ID, &e.DeviceID, &e.SchoolID, uuidScanner{&e.TokenID}, &e.CertSerial,
		timeScanner{&e.CertNotAfter}, timeScanner{&e.RevokedAt}, timeScanner{&e.CreatedAt})
	if err != nil {
		return nil, fmt.Errorf("scan enrolment: %w", err)
	}
	return &e, nil
}
