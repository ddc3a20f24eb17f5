package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// CreateAgreementTemplate stores t as the school's next version, filling
// ID, Version and CreatedAt (when zero). The transaction is immediate, so
// two new versions never take the same number. Returns ENOTFOUND for an
// unknown school or creator.
func (db *DB) CreateAgreementTemplate(ctx context.Context, t *inventory.AgreementTemplate) error {
	v := *t
	if err := fillID(&v.ID); err != nil {
		return err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = db.now()
	}
	v.CreatedAt = utc(v.CreatedAt)
	decl, err := encodeDeclarations(v.Declarations)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := findSchoolByID(ctx, tx, v.SchoolID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) + 1 FROM agreement_templates WHERE school_id = ?`,
			v.SchoolID).Scan(&v.Version); err != nil {
			return fmt.Errorf("next template version: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO agreement_templates
			(id, school_id, version, title, body, declarations, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.SchoolID, v.Version, v.Title, v.Body, decl, nullUUID(v.CreatedBy), encodeTime(v.CreatedAt))
		if _, ok := uniqueViolation(err); ok {
			return inventory.Errorf(inventory.ECONFLICT, "agreement template %s already exists", v.ID)
		} else if err != nil {
			return fmt.Errorf("insert agreement template: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// encodeDeclarations returns a template's declarations as stored: a JSON
// array, empty for none.
func encodeDeclarations(d []string) (string, error) {
	if d == nil {
		d = []string{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("encode declarations: %w", err)
	}
	return string(b), nil
}

// FindAgreementTemplate returns the school's newest version, or
// ENOTFOUND when the school has none.
func (db *DB) FindAgreementTemplate(ctx context.Context, schoolID uuid.UUID) (*inventory.AgreementTemplate, error) {
	var t *inventory.AgreementTemplate
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		t, err = scanAgreementTemplate(tx.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM agreement_templates
			WHERE school_id = ? ORDER BY version DESC LIMIT 1`, schoolID))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s has no agreement template of its own", schoolID)
		}
		return err
	})
	return t, err
}

// FindAgreementTemplates returns every version of the school's template,
// newest first; none for an unknown school.
func (db *DB) FindAgreementTemplates(ctx context.Context, schoolID uuid.UUID) ([]*inventory.AgreementTemplate, error) {
	all := []*inventory.AgreementTemplate{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+templateColumns+` FROM agreement_templates
			WHERE school_id = ? ORDER BY version DESC`, schoolID)
		if err != nil {
			return fmt.Errorf("query agreement templates: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanAgreementTemplate(rows)
			if err != nil {
				return err
			}
			all = append(all, t)
		}
		return rows.Err()
	})
	return all, err
}

const templateColumns = `id, school_id, version, title, body, declarations, created_by, created_at`

func scanAgreementTemplate(row rowScanner) (*inventory.AgreementTemplate, error) {
	var (
		t    inventory.AgreementTemplate
		decl string
	)
	err := row.Scan(&t.ID, &t.SchoolID, &t.Version, &t.Title, &t.Body, &decl, uuidScanner{&t.CreatedBy}, timeScanner{&t.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan agreement template: %w", err)
	}
	if err := json.Unmarshal([]byte(decl), &t.Declarations); err != nil {
		return nil, fmt.Errorf("decode declarations: %w", err)
	}
	if len(t.Declarations) == 0 {
		t.Declarations = nil
	}
	return &t, nil
}

// SetSchoolLoanSettings replaces a school's loan settings. Returns
// EINVALID from [inventory.LoanSettings.Validate] and ENOTFOUND.
func (db *DB) SetSchoolLoanSettings(ctx context.Context, schoolID uuid.UUID, s inventory.LoanSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schools SET loan_require_lead_approval = ?, loan_check_interval_days = ?
			WHERE id = ?`, s.RequireLeadApproval, s.CheckIntervalDays, schoolID)
		if err != nil {
			return fmt.Errorf("set loan settings: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set loan settings: %w", err)
		} else if n == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s not found", schoolID)
		}
		return nil
	})
}
