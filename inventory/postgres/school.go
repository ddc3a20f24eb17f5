package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// CreateSchool stores s, filling ID and CreatedAt when zero. Returns
// EINVALID for a bad slug or name and ECONFLICT if the slug is taken.
func (db *DB) CreateSchool(ctx context.Context, s *inventory.School) error {
	if err := s.Validate(); err != nil {
		return err
	}
	v := *s
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt = utc(v.CreatedAt)
	v.Policy = inventory.DefaultPolicy()       // a new school has the default policy
	v.Loans = inventory.LoanSettings{}         // and the default loan settings
	v.PINs = inventory.PINSettings{}           // and PIN settings
	v.Retention = inventory.DefaultRetention() // and retention periods,
	v.RetentionSet = false                     // which nobody has saved
	if err := db.inTx(ctx, func(tx pgx.Tx) error { return createSchool(ctx, tx, &v) }); err != nil {
		return err
	}
	*s = v
	return nil
}

func createSchool(ctx context.Context, tx pgx.Tx, s *inventory.School) error {
	_, err := tx.Exec(ctx, `INSERT INTO schools (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`,
		s.ID, s.Slug, s.Name, encodeTime(s.CreatedAt))
	if what, ok := uniqueViolation(err); ok {
		if what == "schools_slug_key" {
			return inventory.Errorf(inventory.ECONFLICT, "school slug %s is taken", s.Slug)
		}
		return inventory.Errorf(inventory.ECONFLICT, "school %s already exists", s.ID)
	} else if err != nil {
		return fmt.Errorf("insert school: %w", err)
	}
	return nil
}

// FindSchoolByID returns ENOTFOUND if there is no such school.
func (db *DB) FindSchoolByID(ctx context.Context, id uuid.UUID) (*inventory.School, error) {
	// One statement needs no transaction: every report reads its school.
	s, err := findSchoolByID(ctx, db.pool, id)
	return s, formatError(err)
}

// FindSchoolBySlug returns ENOTFOUND if there is no such school.
func (db *DB) FindSchoolBySlug(ctx context.Context, slug string) (*inventory.School, error) {
	var s *inventory.School
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		s, err = scanSchool(tx.QueryRow(ctx, `SELECT `+schoolColumns+` FROM schools WHERE slug = $1`, slug))
		if isNoRows(err) {
			return inventory.Errorf(inventory.ENOTFOUND, "school %q not found", slug)
		}
		return err
	})
	return s, err
}

// FindSchools returns every school ordered by slug.
func (db *DB) FindSchools(ctx context.Context) ([]*inventory.School, error) {
	var all []*inventory.School
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+schoolColumns+` FROM schools ORDER BY slug COLLATE "C"`)
		if err != nil {
			return fmt.Errorf("query schools: %w", err)
		}
		defer rows.Close()
		all = []*inventory.School{}
		for rows.Next() {
			s, err := scanSchool(rows)
			if err != nil {
				return err
			}
			all = append(all, s)
		}
		return rows.Err()
	})
	return all, err
}

func findSchoolByID(ctx context.Context, tx rowQuerier, id uuid.UUID) (*inventory.School, error) {
	s, err := scanSchool(tx.QueryRow(ctx, `SELECT `+schoolColumns+` FROM schools WHERE id = $1`, id))
	if isNoRows(err) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "school %s not found", id)
	}
	return s, err
}

const schoolColumns = `id, slug, name, created_at, policy, loan_require_lead_approval, loan_check_interval_days,
	pin_head_may_reveal, pin_network_manager, pin_digest_sent_at, retention`

func scanSchool(row pgx.Row) (*inventory.School, error) {
	var (
		s                 inventory.School
		policy, retention []byte
	)
	if err := row.Scan(&s.ID, &s.Slug, &s.Name, timeScanner{&s.CreatedAt}, &policy,
		&s.Loans.RequireLeadApproval, &s.Loans.CheckIntervalDays,
		&s.PINs.HeadteacherMayReveal, &s.PINs.NetworkManager, timeScanner{&s.PINs.DigestSentAt}, &retention); err != nil {
		return nil, fmt.Errorf("scan school: %w", err)
	}
	p, err := inventory.DecodePolicy(policy)
	if err != nil {
		return nil, fmt.Errorf("school %s: %w", s.Slug, err)
	}
	s.Policy = p
	r, err := inventory.DecodeRetention(retention)
	if err != nil {
		return nil, fmt.Errorf("school %s: %w", s.Slug, err)
	}
	s.Retention, s.RetentionSet = r, retention != nil // NULL until SetSchoolRetention
	return &s, nil
}

// SetSchoolPolicy replaces a school's compliance policy and, in the same
// transaction, makes the verdict of every device of the school due: its
// Until becomes the store's current time. Returns EINVALID for a policy
// that fails [inventory.Policy.Validate] and ENOTFOUND.
func (db *DB) SetSchoolPolicy(ctx context.Context, id uuid.UUID, p inventory.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE schools SET policy = $1 WHERE id = $2`, b, id)
		if err != nil {
			return fmt.Errorf("set policy: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s not found", id)
		}
		if _, err := tx.Exec(ctx, `UPDATE devices SET verdict_until = $1 WHERE school_id = $2`,
			encodeTime(db.now()), id); err != nil {
			return fmt.Errorf("make verdicts due: %w", err)
		}
		return nil
	})
}
