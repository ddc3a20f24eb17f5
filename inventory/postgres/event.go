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
	err := db.inTx(ctx, func(tx pgx.Tx) (err error) {
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

// appendEvents inserts events in one round trip and returns the device's
// school and how many events were new.
func appendEvents(ctx context.Context, tx pgx.Tx, deviceID uuid.UUID, events []*inventory.Event, at time.Time) (uuid.UUID, int, error) {
	var schoolID uuid.UUID
	err := tx.QueryRow(ctx, `SELECT school_id FROM devices WHERE id = $1`, deviceID).Scan(&schoolID)
	if isNoRows(err) {
		return uuid.Nil, 0, inventory.Errorf(inventory.ENOTFOUND, "device %s not found", deviceID)
	} else if err != nil {
		return uuid.Nil, 0, fmt.Errorf("query device: %w", err)
	}
	if len(events) == 0 {
		return schoolID, 0, nil
	}
	b := &pgx.Batch{}
	received := encodeTime(at)
	for _, e := range events {
		var payload any
		if e.Payload != nil {
			payload = []byte(e.Payload)
		}
		b.Queue(`INSERT INTO events (id, device_id, school_id, type, occurred_at, payload, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO NOTHING`,
			e.ID, deviceID, schoolID, e.Type, encodeTime(e.OccurredAt), payload, received)
	}
	br := tx.SendBatch(ctx, b)
	total := 0
	for range events {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return uuid.Nil, 0, fmt.Errorf("insert event: %w", err)
		}
		total += int(tag.RowsAffected())
	}
	if err := br.Close(); err != nil {
		return uuid.Nil, 0, fmt.Errorf("insert events: %w", err)
	}
	return schoolID, total, nil
}

// FindEvents returns a device's events, newest first by the time they
// occurred. A limit of zero or less means [inventory.DefaultPageSize]; a
// limit above [inventory.MaxPageSize] is capped.
func (db *DB) FindEvents(ctx context.Context, f inventory.EventFilter) ([]*inventory.Event, error) {
	var all []*inventory.Event
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		all, err = findEvents(ctx, tx, f)
		return err
	})
	return all, err
}

func findEvents(ctx context.Context, tx pgx.Tx, f inventory.EventFilter) ([]*inventory.Event, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.DeviceID != uuid.Nil {
		where = append(where, "device_id = "+arg(f.DeviceID))
	} else {
		if len(f.SchoolIDs) == 0 {
			return []*inventory.Event{}, nil
		}
		where = append(where, "school_id = ANY("+arg(f.SchoolIDs)+")")
	}
	if f.TypePrefix != "" {
		where = append(where, "starts_with(type, "+arg(f.TypePrefix)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "occurred_at >= "+arg(encodeTime(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "occurred_at < "+arg(encodeTime(f.Until)))
	}
	limit := arg(inventory.DeviceFilter{Limit: f.Limit}.PageLimit())
	rows, err := tx.Query(ctx, `SELECT id, device_id, school_id, type, occurred_at, payload, received_at
		FROM events WHERE `+strings.Join(where, " AND ")+` ORDER BY occurred_at DESC, id DESC LIMIT `+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	all := []*inventory.Event{}
	for rows.Next() {
		var (
			e       inventory.Event
			payload []byte
		)
		if err := rows.Scan(&e.ID, &e.DeviceID, &e.SchoolID, &e.Type, timeScanner{&e.OccurredAt}, &payload,
			timeScanner{&e.ReceivedAt}); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		if payload != nil {
			e.Payload = json.RawMessage(payload)
		}
		all = append(all, &e)
	}
	return all, rows.Err()
}
