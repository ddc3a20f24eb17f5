package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// CreateAgreementTemplate stores t as the school's next version, filling
// ID, Version and CreatedAt (when zero). It locks the school's row first,
// so two new versions never take the same number. Returns ENOTFOUND for
// an unknown school or creator.
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
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		// NO KEY UPDATE: inserts that only refer to the school, which
		// take a KEY SHARE lock, need not wait.
		var id uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM schools WHERE id = $1 FOR NO KEY UPDATE`, v.SchoolID).Scan(&id)
		if isNoRows(err) {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s not found", v.SchoolID)
		} else if err != nil {
			return fmt.Errorf("lock school: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM agreement_templates WHERE school_id = $1`,
			v.SchoolID).Scan(&v.Version); err != nil {
			return fmt.Errorf("next template version: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO agreement_templates
			(id, school_id, version, title, body, declarations, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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
func encodeDeclarations(d []string) ([]byte, error) {
	if d == nil {
		d = []string{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode declarations: %w", err)
	}
	return b, nil
}

// FindAgreementTemplate returns the school's newest version, or
// ENOTFOUND when the school has none.
func (db *DB) FindAgreementTemplate(ctx context.Context, schoolID uuid.UUID) (*inventory.AgreementTemplate, error) {
	var t *inventory.AgreementTemplate
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		t, err = scanAgreementTemplate(tx.QueryRow(ctx, `SELECT `+templateColumns+` FROM agreement_templates
			WHERE school_id = $1 ORDER BY version DESC LIMIT 1`, schoolID))
		if isNoRows(err) {
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
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+templateColumns+` FROM agreement_templates
			WHERE school_id = $1 ORDER BY version DESC`, schoolID)
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

func scanAgreementTemplate(row pgx.Row) (*inventory.AgreementTemplate, error) {
	var (
		t    inventory.AgreementTemplate
		decl []byte
	)
	err := row.Scan(&t.ID, &t.SchoolID, &t.Version, &t.Title, &t.Body, &decl, uuidScanner{&t.CreatedBy}, timeScanner{&t.CreatedAt})
	if isNoRows(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan agreement template: %w", err)
	}
	if err := json.Unmarshal(decl, &t.Declarations); err != nil {
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE schools SET loan_require_lead_approval = $1, loan_check_interval_days = $2
			WHERE id = $3`, s.RequireLeadApproval, s.CheckIntervalDays, schoolID)
		if err != nil {
			return fmt.Errorf("set loan settings: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return inventory.Errorf(inventory.ENOTFOUND, "school %s not found", schoolID)
		}
		return nil
	})
}
