-- 0001_core: schools, devices, posture snapshots, enrolment tokens,
-- enrolments, events, users, role grants and API tokens.
--
-- IDs are UUIDs in canonical lower-case text, which sorts in the same order
-- as their bytes (and so as PostgreSQL's uuid type). Times are UTC text in
-- the fixed-width form 2006-01-02T15:04:05.000000Z, which sorts in time
-- order; NULL stands for the zero time. JSON documents are text.

CREATE TABLE schools (
	id         TEXT NOT NULL PRIMARY KEY,
	slug       TEXT NOT NULL,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	CONSTRAINT schools_slug_key UNIQUE (slug)
) STRICT;

CREATE TABLE devices (
	id           TEXT NOT NULL PRIMARY KEY,
	school_id    TEXT NOT NULL REFERENCES schools (id),
	hostname     TEXT NOT NULL DEFAULT '',
	make         TEXT NOT NULL DEFAULT '',
	model        TEXT NOT NULL DEFAULT '',
	serial       TEXT NOT NULL DEFAULT '',
	os_name      TEXT NOT NULL DEFAULT '',
	os_version   TEXT NOT NULL DEFAULT '',
	hardware     TEXT NOT NULL DEFAULT '{}',
	report_hash  TEXT NOT NULL DEFAULT '',
	last_seen_at TEXT,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL
) STRICT;

-- A serial number identifies a device within its school. Agents that
-- cannot read one report an empty serial, and those never clash.
CREATE UNIQUE INDEX devices_school_serial_key ON devices (school_id, serial) WHERE serial <> '';
CREATE INDEX devices_school_id ON devices (school_id, id);
CREATE INDEX devices_hostname ON devices (hostname);
CREATE INDEX devices_make_model ON devices (make, model);
CREATE INDEX devices_serial ON devices (serial);
CREATE INDEX devices_os ON devices (os_name, os_version);

CREATE TABLE posture_snapshots (
	id          TEXT NOT NULL PRIMARY KEY,
	device_id   TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	hash        TEXT NOT NULL,
	posture     TEXT NOT NULL,
	received_at TEXT NOT NULL
) STRICT;

CREATE INDEX posture_snapshots_device_received ON posture_snapshots (device_id, received_at DESC, id DESC);

CREATE TABLE enroll_tokens (
	id          TEXT NOT NULL PRIMARY KEY,
	school_id   TEXT NOT NULL REFERENCES schools (id),
	secret_hash BLOB NOT NULL,
	max_uses    INTEGER NOT NULL CHECK (max_uses >= 0),
	uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
	expires_at  TEXT NOT NULL,
	revoked_at  TEXT,
	created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX enroll_tokens_school_id ON enroll_tokens (school_id);

CREATE TABLE enrollments (
	id             TEXT NOT NULL PRIMARY KEY,
	device_id      TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	school_id      TEXT NOT NULL REFERENCES schools (id),
	token_id       TEXT REFERENCES enroll_tokens (id), -- NULL for a renewal
	cert_serial    TEXT NOT NULL,
	cert_not_after TEXT NOT NULL,
	revoked_at     TEXT,
	created_at     TEXT NOT NULL
) STRICT;

CREATE INDEX enrollments_device_id ON enrollments (device_id);
CREATE INDEX enrollments_token_id ON enrollments (token_id);
CREATE INDEX enrollments_cert_serial ON enrollments (cert_serial);

CREATE TABLE events (
	id          TEXT NOT NULL PRIMARY KEY, -- made on the device
	device_id   TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	school_id   TEXT NOT NULL REFERENCES schools (id),
	type        TEXT NOT NULL,
	occurred_at TEXT NOT NULL,
	payload     TEXT, -- a JSON document, or NULL
	received_at TEXT NOT NULL
) STRICT;

CREATE INDEX events_device_occurred ON events (device_id, occurred_at DESC, id DESC);

CREATE TABLE users (
	id            TEXT NOT NULL PRIMARY KEY,
	email         TEXT NOT NULL,
	name          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	CONSTRAINT users_email_key UNIQUE (email),
	CHECK (email = lower(email))
) STRICT;

-- An org_admin grant has no school and covers them all; every other role
-- is granted per school.
CREATE TABLE role_grants (
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	school_id TEXT REFERENCES schools (id) ON DELETE CASCADE,
	role      TEXT NOT NULL,
	CHECK ((role = 'org_admin') = (school_id IS NULL))
) STRICT;

-- NULL school IDs are distinct in a plain unique index, so index a
-- sentinel instead to make a second org_admin grant clash.
CREATE UNIQUE INDEX role_grants_key ON role_grants (user_id, coalesce(school_id, ''), role);
CREATE INDEX role_grants_school_id ON role_grants (school_id);

CREATE TABLE api_tokens (
	id         TEXT NOT NULL PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       BLOB NOT NULL,
	created_at TEXT NOT NULL,
	CONSTRAINT api_tokens_hash_key UNIQUE (hash)
) STRICT;

CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
