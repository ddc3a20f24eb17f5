-- 0009_exits: leavers' exit check-ins — everything a leaver holds, each
-- piece with its steps, the leaver's confirmation and the technician's
-- and line manager's sign-off — and the printable record kept when a
-- check-in completes.
--
-- items is a JSON array of inventory.ExitItem, written and read whole.
-- The sign-offs and the completion are NULL until they happen. version
-- counts the changes saved (optimistic concurrency, see
-- inventory.ExitStore.UpdateExit). status is 'open' or 'completed'.

CREATE TABLE exits (
	id                  uuid PRIMARY KEY,
	school_id           uuid NOT NULL REFERENCES schools (id),
	person_id           uuid NOT NULL REFERENCES users (id),
	leaving_date        date NOT NULL,
	started_by          uuid NOT NULL REFERENCES users (id),
	started_at          timestamptz NOT NULL,
	status              text NOT NULL CHECK (status IN ('open', 'completed')),
	items               jsonb NOT NULL DEFAULT '[]',
	leaver_confirmed_at timestamptz,
	tech_signed_by      uuid REFERENCES users (id),
	tech_signed_at      timestamptz,
	manager_signed_by   uuid REFERENCES users (id),
	manager_signed_at   timestamptz,
	completed_at        timestamptz,
	version             integer NOT NULL CHECK (version > 0),
	CONSTRAINT exits_completed_check CHECK (status <> 'completed' OR completed_at IS NOT NULL)
);

-- A person has at most one open check-in at a school.
CREATE UNIQUE INDEX exits_open_person_key ON exits (school_id, person_id) WHERE status = 'open';
CREATE INDEX exits_school_status ON exits (school_id, status);
CREATE INDEX exits_person ON exits (person_id);

-- The record of a completed check-in (a PDF for the personnel file),
-- kept exactly as stored: the store inserts it once, in the transaction
-- that completes the check-in, and the triggers refuse any change or
-- removal.
CREATE TABLE exit_records (
	exit_id    uuid PRIMARY KEY REFERENCES exits (id),
	pdf        bytea NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE FUNCTION exit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'exit check-in records never change';
END;
$$;

CREATE TRIGGER exit_records_no_change BEFORE UPDATE OR DELETE ON exit_records
	FOR EACH ROW EXECUTE FUNCTION exit_records_append_only();
CREATE TRIGGER exit_records_no_truncate BEFORE TRUNCATE ON exit_records
	FOR EACH STATEMENT EXECUTE FUNCTION exit_records_append_only();
