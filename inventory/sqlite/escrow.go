package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// saveRecoveryKeys stores a device's sealed recovery keys seen at at. When
// retire is true, the device's other keys not yet retired are retired.
func saveRecoveryKeys(ctx context.Context, tx *sql.Tx, deviceID uuid.UUID, keys []inventory.EscrowedKey, retire bool, at time.Time) error {
	ids := make([]any, 0, len(keys)+2)
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_keys
				(device_id, protector_id, volume, sealed, first_seen_at, last_seen_at, retired_at)
			VALUES (?, ?, ?, ?, ?, ?, NULL)
			ON CONFLICT (device_id, protector_id) DO UPDATE SET
				volume = excluded.volume, sealed = excluded.sealed,
				last_seen_at = excluded.last_seen_at, retired_at = NULL`,
			deviceID, k.ProtectorID, k.Volume, k.Sealed, encodeTime(at), encodeTime(at)); err != nil {
			return fmt.Errorf("save recovery key: %w", err)
		}
		ids = append(ids, k.ProtectorID)
	}
	if !retire {
		return nil
	}
	q := `UPDATE recovery_keys SET retired_at = ? WHERE device_id = ? AND retired_at IS NULL`
	args := []any{encodeTime(at), deviceID}
	if len(ids) > 0 {
		q += ` AND protector_id NOT IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		args = append(args, ids...)
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("retire recovery keys: %w", err)
	}
	return nil
}

// FindRecoveryKeys returns a device's recovery keys, current and retired,
// ordered by volume and protector.
func (db *DB) FindRecoveryKeys(ctx context.Context, deviceID uuid.UUID) ([]*inventory.EscrowedKey, error) {
	all := []*inventory.EscrowedKey{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT device_id, protector_id, volume, sealed, first_seen_at, last_seen_at, retired_at
			FROM recovery_keys WHERE device_id = ? ORDER BY volume, protector_id`, deviceID)
		if err != nil {
			return fmt.Errorf("query recovery keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k inventory.EscrowedKey
			if err := rows.Scan(&k.DeviceID, &k.ProtectorID, &k.Volume, &k.Sealed,
				timeScanner{&k.FirstSeenAt}, timeScanner{&k.LastSeenAt}, timeScanner{&k.RetiredAt}); err != nil {
				return fmt.Errorf("scan recovery key: %w", err)
			}
			all = append(all, &k)
		}
		return rows.Err()
	})
	return all, err
}
