-- 0005_dashboard: what the device list searches, filters and sorts on,
-- stored on the device row, and each school's daily compliance counts.
--
-- The *_key columns and logged_in_user hold lower-cased text, lowered by
-- the store in Go exactly as inventory.Device.SortKey lowers it, so that a
-- page's cursor key matches the stored key byte for byte. They use the C
-- collation, so they sort in byte order whatever the database's locale,
-- as they do on SQLite and in Go. Rows stored before this migration are
-- lowered here by lower(), which may fold fewer letters than Go does (only
-- ASCII under the C locale); the next full report rewrites them.
--
-- The verdict is the device's stored compliance: verdict_status is empty
-- until the device is judged, and verdict_failing and verdict_unknown list
-- rules. status_rank is inventory.StatusRank as a number.

ALTER TABLE devices
	ADD COLUMN hostname_key text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN serial_key text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN logged_in_user text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN verdict_status text NOT NULL DEFAULT ''
		CONSTRAINT devices_verdict_status_check CHECK (verdict_status IN ('', 'compliant', 'noncompliant', 'unknown')),
	ADD COLUMN verdict_failing text[] NOT NULL DEFAULT '{}',
	ADD COLUMN verdict_unknown text[] NOT NULL DEFAULT '{}',
	ADD COLUMN status_rank smallint NOT NULL GENERATED ALWAYS AS (
		CASE verdict_status WHEN 'noncompliant' THEN 0 WHEN 'unknown' THEN 1 WHEN 'compliant' THEN 2 ELSE 3 END
	) STORED;

UPDATE devices SET
	hostname_key = lower(hostname),
	serial_key = lower(serial),
	logged_in_user = lower(coalesce(hardware->>'logged_in_user', ''));

-- One index per order of the device list, in the order's own direction
-- and ending in id, so that every page is a range scan that stops after
-- the page: one over all schools and one within a school. (PostgreSQL
-- reads a row before it tests a filter on it, so unlike on SQLite extra
-- columns in these indexes would not spare it any reads.)
CREATE INDEX devices_by_hostname ON devices (hostname_key, id);
CREATE INDEX devices_school_by_hostname ON devices (school_id, hostname_key, id);
CREATE INDEX devices_by_serial ON devices (serial_key, id);
CREATE INDEX devices_school_by_serial ON devices (school_id, serial_key, id);
CREATE INDEX devices_by_last_seen ON devices (last_seen_at DESC, id);
CREATE INDEX devices_school_by_last_seen ON devices (school_id, last_seen_at DESC, id);
CREATE INDEX devices_by_status ON devices (status_rank, id);
CREATE INDEX devices_school_by_status ON devices (school_id, status_rank, id);

-- Devices failing a rule: for counting, and listing, the devices that
-- fail a rule few devices fail.
CREATE INDEX devices_failing ON devices USING gin (verdict_failing);

-- A school's tokens, newest first.
CREATE INDEX enroll_tokens_school_created ON enroll_tokens (school_id, created_at DESC, id DESC);

-- One row per school and day.
CREATE TABLE compliance_days (
	school_id    uuid NOT NULL REFERENCES schools (id),
	day          date NOT NULL,
	devices      integer NOT NULL CHECK (devices >= 0),
	compliant    integer NOT NULL CHECK (compliant >= 0),
	noncompliant integer NOT NULL CHECK (noncompliant >= 0),
	unknown      integer NOT NULL CHECK (unknown >= 0),
	PRIMARY KEY (school_id, day)
);

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
ALTER TABLE devices ADD COLUMN verdict_until timestamptz;
CREATE INDEX devices_school_until ON devices (school_id, verdict_until)
	WHERE verdict_until IS NOT NULL;
