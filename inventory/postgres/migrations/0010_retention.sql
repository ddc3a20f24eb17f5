-- 0010_retention: each school's retention periods, the indexes that let
-- the retention purge find a school's old records without reading whole
-- tables, where the audit chain starts once its oldest entries are gone,
-- and the one way a signed agreement may leave the database: deleted
-- with its loan by the purge, at the end of the loan's retention.
--
-- retention is the jsonb document of inventory.Retention. It is NULL
-- until someone saves the school's periods (inventory.School.RetentionSet
-- false): the school then reads as having the defaults
-- (inventory.DefaultRetention), but the purge deletes only old PIN
-- values. This migration leaves it NULL for every school, so an upgrade
-- deletes nothing anyone has not chosen to.

ALTER TABLE schools ADD COLUMN retention jsonb;

-- A school's events by when the server received them, which is when
-- their retention is counted from.
CREATE INDEX events_school_received ON events (school_id, received_at);

-- Posture snapshots by when they arrived, so that the purge reads only
-- the old ones (posture_snapshots_device_received then finds whether
-- each has a newer one of its device) and never the whole table.
CREATE INDEX posture_snapshots_received ON posture_snapshots (received_at);

-- A school's PIN records, whose old values the purge finds by record
-- with pin_history's key (record_id, replaced_at).
CREATE INDEX pin_records_school ON pin_records (school_id, id);

-- A school's ended loans by when they ended: a loan returned, declined
-- or cancelled never changes again, so its updated_at is its end.
CREATE INDEX loans_school_ended ON loans (school_id, updated_at)
	WHERE status IN ('returned', 'declined', 'cancelled');

-- The last audit entry a purge deleted (see inventory.AuditAnchor): the
-- chain goes on from its sequence number and hash. One row, once the
-- first purge has run.
CREATE TABLE audit_anchor (
	id        integer PRIMARY KEY CHECK (id = 1),
	seq       bigint NOT NULL CHECK (seq > 0),
	hash      bytea NOT NULL,
	purged_at timestamptz NOT NULL
);

-- A signed agreement is still never changed, but a retention purge may
-- delete it with its loan: the purge sets rollcall.retention_purge to
-- 'on' for its own transaction only (set_config(..., true)), and only
-- then is a DELETE let through. UPDATE and TRUNCATE are refused always.
CREATE OR REPLACE FUNCTION loan_agreements_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' AND current_setting('rollcall.retention_purge', true) = 'on' THEN
		RETURN OLD;
	END IF;
	RAISE EXCEPTION 'signed agreements never change';
END;
$$;
