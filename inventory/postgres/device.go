package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// FindDeviceByID returns ENOTFOUND if there is no such device.
func (db *DB) FindDeviceByID(ctx context.Context, id uuid.UUID) (*inventory.Device, error) {
	var d *inventory.Device
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		d, err = findDeviceByID(ctx, tx, id)
		return err
	})
	return d, err
}

// FindDevices returns a page of devices matching f, ordered by ID.
func (db *DB) FindDevices(ctx context.Context, f inventory.DeviceFilter) ([]*inventory.Device, error) {
	if f.SchoolIDs != nil && len(f.SchoolIDs) == 0 {
		return []*inventory.Device{}, nil
	}
	var all []*inventory.Device
	err := db.readTx(ctx, func(tx pgx.Tx) (err error) {
		all, err = findDevices(ctx, tx, f)
		return err
	})
	return all, err
}

// RecordCheckIn notes a check-in. For a heartbeat whose hash differs from
// the stored report hash it returns EREPORTREQUIRED and changes nothing.
// For a full report it updates the device's hardware, stores a posture
// snapshot and the new hash in one transaction. Returns ENOTFOUND for an
// unknown device.
func (db *DB) RecordCheckIn(ctx context.Context, c inventory.CheckIn) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if c.Report == nil {
			return recordHeartbeat(ctx, tx, c)
		}
		return recordReport(ctx, tx, c)
	})
}

// FindLatestPosture returns the newest posture snapshot of a device, or
// ENOTFOUND when it has none.
func (db *DB) FindLatestPosture(ctx context.Context, deviceID uuid.UUID) (*inventory.PostureSnapshot, error) {
	var p inventory.PostureSnapshot
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `
			SELECT id, device_id, hash, posture, received_at FROM posture_snapshots
			WHERE device_id = $1 ORDER BY received_at DESC, id DESC LIMIT 1`, deviceID,
		).Scan(&p.ID, &p.DeviceID, &p.Hash, &raw, timeScanner{&p.ReceivedAt})
		if isNoRows(err) {
			return inventory.Errorf(inventory.ENOTFOUND, "device %s has no posture snapshot", deviceID)
		} else if err != nil {
			return fmt.Errorf("query posture: %w", err)
		}
		if err := json.Unmarshal(raw, &p.Posture); err != nil {
			return fmt.Errorf("decode posture: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// FindPostureSnapshots returns a device's posture snapshots, newest first.
func (db *DB) FindPostureSnapshots(ctx context.Context, deviceID uuid.UUID, limit int) ([]*inventory.PostureSnapshot, error) {
	all := []*inventory.PostureSnapshot{}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, device_id, hash, posture, received_at FROM posture_snapshots
			WHERE device_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`,
			deviceID, inventory.DeviceFilter{Limit: limit}.PageLimit())
		if err != nil {
			return fmt.Errorf("query posture: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p   inventory.PostureSnapshot
				raw []byte
			)
			if err := rows.Scan(&p.ID, &p.DeviceID, &p.Hash, &raw, timeScanner{&p.ReceivedAt}); err != nil {
				return fmt.Errorf("scan posture: %w", err)
			}
			if err := json.Unmarshal(raw, &p.Posture); err != nil {
				return fmt.Errorf("decode posture: %w", err)
			}
			all = append(all, &p)
		}
		return rows.Err()
	})
	return all, err
}

func findDeviceByID(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*inventory.Device, error) {
	d, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id))
	if isNoRows(err) {
		return nil, inventory.Errorf(inventory.ENOTFOUND, "device %s not found", id)
	}
	return d, err
}

func findDevices(ctx context.Context, tx pgx.Tx, f inventory.DeviceFilter) ([]*inventory.Device, error) {
	where, args := "id > $1", []any{f.After, f.PageLimit()}
	if f.SchoolIDs != nil {
		where += " AND school_id = ANY($3)"
		args = append(args, f.SchoolIDs)
	}
	rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices
		WHERE `+where+` ORDER BY id LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("query devices: %w", err)
	}
	defer rows.Close()
	all := []*inventory.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, d)
	}
	return all, rows.Err()
}

// recordHeartbeat moves last_seen_at when the hash matches the stored one.
func recordHeartbeat(ctx context.Context, tx pgx.Tx, c inventory.CheckIn) error {
	tag, err := tx.Exec(ctx, `UPDATE devices SET last_seen_at = $1
		WHERE id = $2 AND report_hash = $3 AND report_hash <> ''`,
		encodeTime(c.At), c.DeviceID, c.Hash)
	if err != nil {
		return fmt.Errorf("update last seen: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := findDeviceByID(ctx, tx, c.DeviceID); err != nil {
		return err
	}
	return inventory.Errorf(inventory.EREPORTREQUIRED, "report hash %q is not the one stored for device %s: send the full report", c.Hash, c.DeviceID)
}

// recordReport stores a full report: the device's hardware and hash, and
// a posture snapshot.
func recordReport(ctx context.Context, tx pgx.Tx, c inventory.CheckIn) error {
	h := &c.Report.Hardware
	hw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode hardware: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE devices SET
			hostname = $1, make = $2, model = $3, serial = $4, os_name = $5, os_version = $6,
			hardware = $7, report_hash = $8, last_seen_at = $9, updated_at = $9
		WHERE id = $10`,
		h.Hostname, h.Make, h.Model, h.Serial, h.OSName, h.OSVersion,
		hw, c.Hash, encodeTime(c.At), c.DeviceID)
	if what, ok := uniqueViolation(err); ok && what == "devices_school_serial_key" {
		return inventory.Errorf(inventory.ECONFLICT, "serial number %s belongs to another device in this school", h.Serial)
	} else if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return inventory.Errorf(inventory.ENOTFOUND, "device %s not found", c.DeviceID)
	}
	if err := insertPosture(ctx, tx, c.DeviceID, c.Hash, &c.Report.Posture, c.At); err != nil {
		return err
	}
	return saveRecoveryKeys(ctx, tx, c.DeviceID, c.RecoveryKeys, encryptionRead(c.Report), c.At)
}

// encryptionRead reports whether r says what encryption the device has,
// so that recovery keys it does not list are gone.
func encryptionRead(r *inventory.Report) bool {
	return r.Posture.Encryption != nil && r.Posture.Encryption.UnknownReason == ""
}

// insertPosture stores a posture snapshot received at at.
func insertPosture(ctx context.Context, tx pgx.Tx, deviceID uuid.UUID, hash string, p *inventory.Posture, at time.Time) error {
	id, err := newID()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode posture: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO posture_snapshots (id, device_id, hash, posture, received_at)
		VALUES ($1, $2, $3, $4, $5)`, id, deviceID, hash, raw, encodeTime(at)); err != nil {
		return fmt.Errorf("insert posture snapshot: %w", err)
	}
	return nil
}

const deviceColumns = `id, school_id, hostname, make, model, serial, os_name, os_version,
	hardware, report_hash, last_seen_at, created_at, updated_at`

func scanDevice(row pgx.Row) (*inventory.Device, error) {
	var (
		d  inventory.Device
		hw []byte
	)
	err := row.Scan(&d.ID, &d.SchoolID, &d.Hostname, &d.Make, &d.Model, &d.Serial, &d.OSName, &d.OSVersion,
		&hw, &d.ReportHash, timeScanner{&d.LastSeenAt}, timeScanner{&d.CreatedAt}, timeScanner{&d.UpdatedAt})
	if err != nil {
		return nil, fmt.Errorf("scan device: %w", err)
	}
	if err := json.Unmarshal(hw, &d.Hardware); err != nil {
		return nil, fmt.Errorf("decode hardware: %w", err)
	}
	return &d, nil
}
