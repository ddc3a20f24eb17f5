-- 0003_recovery_keys: BitLocker recovery passwords held in escrow, sealed
-- by the server (see server/vault) so the database alone never reveals
-- one. One row per key protector; a protector the agent stops reporting is
-- retired, not deleted.

CREATE TABLE recovery_keys (
	device_id     uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	protector_id  text NOT NULL,
	volume        text NOT NULL,
	sealed        bytea NOT NULL,
	first_seen_at timestamptz NOT NULL,
	last_seen_at  timestamptz NOT NULL,
	retired_at    timestamptz,
	PRIMARY KEY (device_id, protector_id)
);
