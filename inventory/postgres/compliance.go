package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// RecordComplianceDay stores d, replacing the counts stored for the same
// school and day. The day is d.Day's date in UTC. Returns EINVALID for a
// zero day or a negative count, and ENOTFOUND for an unknown school.
func (db *DB) RecordComplianceDay(ctx context.Context, d inventory.ComplianceDay) error {
	day, err := checkComplianceDay(d)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := findSchoolByID(ctx, tx, d.SchoolID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compliance_days
				(school_id, day, devices, compliant, noncompliant, unknown)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (school_id, day) DO UPDATE SET
				devices = excluded.devices, compliant = excluded.compliant,
				noncompliant = excluded.noncompliant, unknown = excluded.unknown`,
			d.SchoolID, day, d.Devices, d.Compliant, d.Noncompliant, d.Unknown); err != nil {
			return fmt.Errorf("upsert compliance day: %w", err)
		}
		return nil
	})
}

// FindComplianceDays returns the days of these schools (nil: every
// school; empty: none) whose midnight is at or after since (zero: every
// day), oldest first, then by school.
func (db *DB) FindComplianceDays(ctx context.Context, schoolIDs []uuid.UUID, since time.Time) ([]inventory.ComplianceDay, error) {
	all := []inventory.ComplianceDay{}
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
		if !since.IsZero() {
			// The first day whose midnight UTC is not before since.
			first := midnightUTC(since)
			if first.Before(since) {
				first = first.AddDate(0, 0, 1)
			}
			where = append(where, "day >= "+a.add(first))
		}
		rows, err := tx.Query(ctx, `SELECT school_id, day, devices, compliant, noncompliant, unknown
			FROM compliance_days`+whereClause(where)+` ORDER BY day, school_id`, a...)
		if err != nil {
			return fmt.Errorf("query compliance days: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d inventory.ComplianceDay
			if err := rows.Scan(&d.SchoolID, &d.Day, &d.Devices, &d.Compliant, &d.Noncompliant, &d.Unknown); err != nil {
				return fmt.Errorf("scan compliance day: %w", err)
			}
			d.Day = d.Day.UTC()
			all = append(all, d)
		}
		return rows.Err()
	})
	return all, err
}

// checkComplianceDay returns midnight UTC of d's day, or EINVALID for a
// zero day or a negative count.
func checkComplianceDay(d inventory.ComplianceDay) (time.Time, error) {
	if d.Day.IsZero() {
		return time.Time{}, inventory.Errorf(inventory.EINVALID, "compliance day: no day given")
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"devices", d.Devices}, {"compliant", d.Compliant}, {"noncompliant", d.Noncompliant}, {"unknown", d.Unknown}} {
		if c.n < 0 {
			return time.Time{}, inventory.Errorf(inventory.EINVALID, "compliance day: %s count %d is negative", c.name, c.n)
		}
	}
	return midnightUTC(d.Day), nil
}

// midnightUTC returns the start of t's day in UTC.
func midnightUTC(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
