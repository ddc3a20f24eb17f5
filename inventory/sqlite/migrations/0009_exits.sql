-- 0009_exits: leavers' exit check-ins — everything a leaver holds, each
-- piece with its steps, the leaver's confirmation and the technician's
-- and line manager's sign-off — and the printable record kept when a
-- check-in completes.
--
-- items is a JSON array of inventory.ExitItem, written and read whole.
-- leaving_date is text in the form 2006-01-02. The sign-offs and the
-- completion are NULL until they happen. version counts the changes
-- saved (optimistic concurrency, see inventory.ExitStore.UpdateExit).
-- status is 'open' or 'completed'.

CREATE TABLE exits (
	id                  TEXT NOT NULL PRIMARY KEY,
	school_id           TEXT NOT NULL REFERENCES schools (id),
	person_id           TEXT NOT NULL REFERENCES users (id),
	leaving_date        TEXT NOT NULL,
	started_by          TEXT NOT NULL REFERENCES users (id),
	started_at          TEXT NOT NULL,
	status              TEXT NOT NULL CHECK (status IN ('open', 'completed')),
	items               TEXT NOT NULL DEFAULT '[]',
	leaver_confirmed_at TEXT,
	tech_signed_by      TEXT REFERENCES users (id),
	tech_signed_at      TEXT,
	manager_signed_by   TEXT REFERENCES users (id),
	manager_signed_at   TEXT,
	completed_at        TEXT,
	version             INTEGER NOT NULL CHECK (version > 0),
	CHECK (status <> 'completed' OR completed_at IS NOT NULL)
) STRICT;

-- A person has at most one open check-in at a school.
CREATE UNIQUE INDEX exits_open_person_key ON exits (school_id, person_id) WHERE status = 'open';
CREATE INDEX exits_school_status ON exits (school_id, status);
CREATE INDEX exits_person ON exits (person_id);

-- The record of a completed check-in (a PDF for the personnel file),
-- kept exactly as stored: the store inserts it once, in the transaction
-- that completes the check-in, and the triggers refuse any change or
-- removal.
CREATE TABLE exit_records (
	exit_id    TEXT NOT NULL PRIMARY KEY REFERENCES exits (id),
	pdf        BLOB NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

CREATE TRIGGER exit_records_no_update BEFORE UPDATE ON exit_records
BEGIN
	SELECT RAISE(ABORT, 'exit check-in records never change');
END;

CREATE TRIGGER exit_records_no_delete BEFORE DELETE ON exit_records
BEGIN
	SELECT RAISE(ABORT, 'exit check-in records never change');
END;
