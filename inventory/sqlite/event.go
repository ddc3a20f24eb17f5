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

// AppendEvents stores events for a device in one transaction, filling
// DeviceID, SchoolID and ReceivedAt. An event whose ID is already stored is
// skipped, so retries are safe. Returns how many were new, EINVALID if an
// event fails [inventory.Event.Validate] and ENOTFOUND for an unknown
// device.
func (db *DB) AppendEvents(ctx context.Context, deviceID uuid.UUID, events []*inventory.Event, at time.Time) (int, error) {
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return 0, err
		}
	}
	var (
		n        int
		schoolID uuid.UUID
	)
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		schoolID, n, err = appendEvents(ctx, tx, deviceID, events, at)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, e := range events {
		e.DeviceID, e.SchoolID, e.ReceivedAt = deviceID, schoolID, utc(at)
	}
	return n, nil
}

func appendEvents(ctx context.Context, tx *sql.Tx, deviceID uuid.UUID, events []*inventory.Event, at time.Time) (uuid.UUID, int, error) {
	var schoolID uuid.UUID
	err := tx.QueryRowContext(ctx, `SELECT school_id FROM devices WHERE id = ?`, deviceID).Scan(&schoolID)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, 0, inventory.Errorf(inventory.ENOTFOUND, "device %s not found", deviceID)
	} else if err != nil {
		return uuid.Nil, 0, fmt.Errorf("query device: %w", err)
	}
	if len(events) == 0 {
		return schoolID, 0, nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events
		(id, device_id, school_id, type, occurred_at, payload, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return uuid.Nil, 0, fmt.Errorf("prepare insert event: %w", err)
	}
	defer stmt.Close()
	received := encodeTime(at)
	total := 0
	for _, e := range events {
		var payload any
		if e.Payload != nil {
			payload = string(e.Payload)
		}
		res, err := stmt.ExecContext(ctx, e.ID, deviceID, schoolID, e.Type, encodeTime(e.OccurredAt), payload, received)
		if err != nil {
			return uuid.Nil, 0, fmt.Errorf("insert event: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return uuid.Nil, 0, fmt.Errorf("insert event: %w", err)
		}
		total += int(n)
	}
	return schoolID, total, nil
}

// FindEvents returns a device's events, newest first by the time they
// occurred. A limit of zero or less means [inventory.DefaultPageSize]; a
// limit above [inventory.MaxPageSize] is capped.
func (db *DB) FindEvents(ctx context.Context, f inventory.EventFilter) ([]*inventory.Event, error) {
	var all []*inventory.Event
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		all, err = findEvents(ctx, tx, f)
		return err
	})
	return all, err
}

func findEvents(ctx context.Context, tx *sql.Tx, f inventory.EventFilter) ([]*inventory.Event, error) {
	var (
		where []string
		args  []any
	)
	if f.DeviceID != uuid.Nil {
		where, args = append(where, "device_id = ?"), append(args, f.DeviceID)
	} else {
		if len(f.SchoolIDs) == 0 {
			return []*inventory.Event{}, nil
		}
		where = append(where, "school_id IN (?"+strings.Repeat(", ?", len(f.SchoolIDs)-1)+")")
		for _, id := range f.SchoolIDs {
			args = append(args, id)
		}
	}
	if f.TypePrefix != "" {
		where, args = append(where, "substr(type, 1, ?) = ?"), append(args, len(f.TypePrefix), f.TypePrefix)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "occurred_at >= ?"), append(args, encodeTime(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "occurred_at < ?"), append(args, encodeTime(f.Until))
	}
	args = append(args, inventory.DeviceFilter{Limit: f.Limit}.PageLimit())
	rows, err := tx.QueryContext(ctx, `SELECT id, device_id, school_id, type, occurred_at, payload, received_at
		FROM events WHERE `+strings.Join(where, " AND ")+` ORDER BY occurred_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	all := []*inventory.Event{}
	for rows.Next() {
		var (
			e       inventory.Event
			payload sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.DeviceID, &e.SchoolID, &e.Type, timeScanner{&e.OccurredAt}, &payload,
			timeScanner{&e.ReceivedAt}); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		if payload.Valid {
			e.Payload = json.RawMessage(payload.String)
		}
		all = append(all, &e)
	}
	return all, rows.Err()
}
