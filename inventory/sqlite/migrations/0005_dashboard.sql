-- 0005_dashboard: what the device list searches, filters and sorts on,
-- stored on the device row, and each school's daily compliance counts.
--
-- The *_key columns and logged_in_user hold lower-cased text, lowered by
-- the store in Go exactly as inventory.Device.SortKey lowers it, so that a
-- page's cursor key matches the stored key byte for byte. Rows stored
-- before this migration are lowered here by SQLite's lower(), which folds
-- only ASCII; the next full report rewrites them.
--
-- The verdict is the device's stored compliance: verdict_status is empty
-- until the device is judged, and the failing and unknown rules are kept
-- as ",rule,rule," text ('' for none) so that one rule is found with
-- instr(). status_rank is inventory.StatusRank of the status as a number.

ALTER TABLE devices ADD COLUMN hostname_key TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN serial_key TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN logged_in_user TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN verdict_status TEXT NOT NULL DEFAULT ''
	CHECK (verdict_status IN ('', 'compliant', 'noncompliant', 'unknown'));
ALTER TABLE devices ADD COLUMN verdict_failing TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN verdict_unknown TEXT NOT NULL DEFAULT '';
-- A plain column rather than a generated one, which SQLite's planner
-- would not read from an index that holds it.
ALTER TABLE devices ADD COLUMN status_rank INTEGER NOT NULL DEFAULT 3 CHECK (status_rank =
	CASE verdict_status WHEN 'noncompliant' THEN 0 WHEN 'unknown' THEN 1 WHEN 'compliant' THEN 2 ELSE 3 END);

UPDATE devices SET
	hostname_key = lower(hostname),
	serial_key = lower(serial),
	logged_in_user = lower(coalesce(json_extract(hardware, '$.logged_in_user'), ''));

-- One index per order of the device list, over all schools and within
-- a school, each in the order's own direction and ending in id, so that
-- every page is a range scan that stops once the page is full. Each also
-- holds the columns that the list's search, status and rule filters
-- read, so that SQLite tests them in the index and reads a device's row
-- only when it matches: a search that matches few devices walks the
-- index, not the table. last_seen_at is left out of all but its own
-- order, so that a heartbeat rewrites only those two indexes.
-- devices_school_by_id replaces devices_school_id.
DROP INDEX devices_school_id;
CREATE INDEX devices_by_id ON devices
	(id, hostname_key, serial_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_school_by_id ON devices
	(school_id, id, hostname_key, serial_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_by_hostname ON devices
	(hostname_key, id, serial_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_school_by_hostname ON devices
	(school_id, hostname_key, id, serial_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_by_serial ON devices
	(serial_key, id, hostname_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_school_by_serial ON devices
	(school_id, serial_key, id, hostname_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_by_last_seen ON devices
	(last_seen_at DESC, id, hostname_key, serial_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_school_by_last_seen ON devices
	(school_id, last_seen_at DESC, id, hostname_key, serial_key, logged_in_user, status_rank, verdict_failing);
CREATE INDEX devices_by_status ON devices
	(status_rank, id, hostname_key, serial_key, logged_in_user, verdict_failing);
CREATE INDEX devices_school_by_status ON devices
	(school_id, status_rank, id, hostname_key, serial_key, logged_in_user, verdict_failing);

-- A school's tokens, newest first.
CREATE INDEX enroll_tokens_school_created ON enroll_tokens (school_id, created_at DESC, id DESC);

-- One row per school and day; day is midnight UTC in the usual time form.
CREATE TABLE compliance_days (
	school_id    TEXT NOT NULL REFERENCES schools (id),
	day          TEXT NOT NULL,
	devices      INTEGER NOT NULL CHECK (devices >= 0),
	compliant    INTEGER NOT NULL CHECK (compliant >= 0),
	noncompliant INTEGER NOT NULL CHECK (noncompliant >= 0),
	unknown      INTEGER NOT NULL CHECK (unknown >= 0),
	PRIMARY KEY (school_id, day)
) STRICT;

CREATE INDEX compliance_days_day ON compliance_days (day, school_id);

-- No query reads these indexes from 0001 (search and sorts use the key
-- columns above); each one only cost a write on every check-in.
DROP INDEX devices_hostname;
DROP INDEX devices_serial;
DROP INDEX devices_make_model;
DROP INDEX devices_os;

-- When the device's verdict goes out of date with time alone
-- (inventory.Verdict.Until), NULL when it does not; a policy change sets
-- it to the time of the change. The sweep judges again the devices of a
-- school that are due: never judged (status_rank 3, which
-- devices_school_by_status finds) or whose verdict_until has passed,
-- which this index finds. It holds only the devices that have a time, so
-- that a school's few due devices are one short range scan. Every device
-- stored before this migration is not judged yet, so none needs a time.
ALTER TABLE devices ADD COLUMN verdict_until TEXT;
CREATE INDEX devices_school_until ON devices (school_id, verdict_until)
	WHERE verdict_until IS NOT NULL;
