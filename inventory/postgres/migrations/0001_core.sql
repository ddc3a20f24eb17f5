-- 0001_core: schools, devices, posture snapshots, enrolment tokens,
-- enrolments, events, users, role grants and API tokens.
--
-- Times are timestamptz, which keeps microseconds; NULL stands for the
-- zero time. JSON documents are jsonb.

CREATE TABLE schools (
	id         uuid PRIMARY KEY,
	slug       text NOT NULL,
	name       text NOT NULL,
	created_at timestamptz NOT NULL,
	CONSTRAINT schools_slug_key UNIQUE (slug)
);

CREATE TABLE devices (
	id           uuid PRIMARY KEY,
	school_id    uuid NOT NULL REFERENCES schools (id),
	hostname     text NOT NULL DEFAULT '',
	make         text NOT NULL DEFAULT '',
	model        text NOT NULL DEFAULT '',
	serial       text NOT NULL DEFAULT '',
	os_name      text NOT NULL DEFAULT '',
	os_version   text NOT NULL DEFAULT '',
	hardware     jsonb NOT NULL DEFAULT '{}',
	report_hash  text NOT NULL DEFAULT '',
	last_seen_at timestamptz,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL
);

-- A serial number identifies a device within its school. Agents that
-- cannot read one report an empty serial, and those never clash.
CREATE UNIQUE INDEX devices_school_serial_key ON devices (school_id, serial) WHERE serial <> '';
CREATE INDEX devices_school_id ON devices (school_id, id);
CREATE INDEX devices_hostname ON devices (hostname);
CREATE INDEX devices_make_model ON devices (make, model);
CREATE INDEX devices_serial ON devices (serial);
CREATE INDEX devices_os ON devices (os_name, os_version);

CREATE TABLE posture_snapshots (
	id          uuid PRIMARY KEY,
	device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	hash        text NOT NULL,
	posture     jsonb NOT NULL,
	received_at timestamptz NOT NULL
);

CREATE INDEX posture_snapshots_device_received ON posture_snapshots (device_id, received_at DESC, id DESC);

CREATE TABLE enroll_tokens (
	id          uuid PRIMARY KEY,
	school_id   uuid NOT NULL REFERENCES schools (id),
	secret_hash bytea NOT NULL,
	max_uses    integer NOT NULL CHECK (max_uses >= 0),
	uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
	expires_at  timestamptz NOT NULL,
	revoked_at  timestamptz,
	created_at  timestamptz NOT NULL
);

CREATE INDEX enroll_tokens_school_id ON enroll_tokens (school_id);

CREATE TABLE enrollments (
	id             uuid PRIMARY KEY,
	device_id      uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	school_id      uuid NOT NULL REFERENCES schools (id),
	token_id       uuid REFERENCES enroll_tokens (id), -- NULL for a renewal
	cert_serial    text NOT NULL,
	cert_not_after timestamptz NOT NULL,
	revoked_at     timestamptz,
	created_at     timestamptz NOT NULL
);

CREATE INDEX enrollments_device_id ON enrollments (device_id);
CREATE INDEX enrollments_token_id ON enrollments (token_id);
CREATE INDEX enrollments_cert_serial ON enrollments (cert_serial);

CREATE TABLE events (
	id          uuid PRIMARY KEY, -- made on the device
	device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	school_id   uuid NOT NULL REFERENCES schools (id),
	type        text NOT NULL,
	occurred_at timestamptz NOT NULL,
	payload     jsonb, -- NULL when the event has none
	received_at timestamptz NOT NULL
);

CREATE INDEX events_device_occurred ON events (device_id, occurred_at DESC, id DESC);

CREATE TABLE users (
	id            uuid PRIMARY KEY,
	email         text NOT NULL,
	name          text NOT NULL,
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL,
	CONSTRAINT users_email_key UNIQUE (email),
	CHECK (email = lower(email))
);

-- An org_admin grant has no school and covers them all; every other role
-- is granted per school.
CREATE TABLE role_grants (
	user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	school_id uuid REFERENCES schools (id) ON DELETE CASCADE,
	role      text NOT NULL,
	CHECK ((role = 'org_admin') = (school_id IS NULL))
);

-- NULL school IDs are distinct in a plain unique index, so index a
-- sentinel instead to make a second org_admin grant clash.
CREATE UNIQUE INDEX role_grants_key ON role_grants
	(user_id, coalesce(school_id, '00000000-0000-0000-0000-000000000000'), role);
CREATE INDEX role_grants_school_id ON role_grants (school_id);

CREATE TABLE api_tokens (
	id         uuid PRIMARY KEY,
	user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       bytea NOT NULL,
	created_at timestamptz NOT NULL,
	CONSTRAINT api_tokens_hash_key UNIQUE (hash)
);

CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
