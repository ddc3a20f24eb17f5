-- 0003_recovery_keys: BitLocker recovery passwords held in escrow, sealed
-- by the server (see server/vault) so the database alone never reveals
-- one. One row per key protector; a protector the agent stops reporting is
-- retired, not deleted.

CREATE TABLE recovery_keys (
	device_id     TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	protector_id  TEXT NOT NULL,
	volume        TEXT NOT NULL,
	sealed        BLOB NOT NULL,
	first_seen_at TEXT NOT NULL,
	last_seen_at  TEXT NOT NULL,
	retired_at    TEXT,
	PRIMARY KEY (device_id, protector_id)
) STRICT;
