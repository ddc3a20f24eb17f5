package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rollcall/rollcall/inventory"
)

// saveRecoveryKeys stores a device's sealed recovery keys seen at at. When
// retire is true, the device's other keys not yet retired are retired.
func saveRecoveryKeys(ctx context.Context, tx pgx.Tx, deviceID uuid.UUID, keys []inventory.EscrowedKey, retire bool, at time.Time) error {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `INSERT INTO recovery_keys
				(device_id, protector_id, volume, sealed, first_seen_at, last_seen_at, retired_at)
			VALUES ($1, $2, $3, $4, $5, $5, NULL)
			ON CONFLICT (device_id, protector_id) DO UPDATE SET
				volume = excluded.volume, sealed = excluded.sealed,
				last_seen_at = excluded.last_seen_at, retired_at = NULL`,
			deviceID, k.ProtectorID, k.Volume, k.Sealed, encodeTime(at)); err != nil {
			return fmt.Errorf("save recovery key: %w", err)
		}
		ids = append(ids, k.ProtectorID)
	}
	if !retire {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE recovery_keys SET retired_at = $1
		WHERE device_id = $2 AND retired_at IS NULL AND NOT (protector_id = ANY($3))`,
		encodeTime(at), deviceID, ids); err != nil {
		return fmt.Errorf("retire recovery keys: %w", err)
	}
	return nil
}

// FindRecoveryKeys returns a device's recovery keys, current and retired,
// ordered by volume and protector.
func (db *DB) FindRecoveryKeys(ctx context.Context, deviceID uuid.UUID) ([]*inventory.EscrowedKey, error) {
	all := []*inventory.EscrowedKey{}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT device_id, protector_id, volume, sealed, first_seen_at, last_seen_at, retired_at
			FROM recovery_keys WHERE device_id = $1 ORDER BY volume COLLATE "C", protector_id COLLATE "C"`, deviceID)
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
