-- 0004_people: what people need to sign in and be accountable — a user's
-- disabled time and TOTP second factor, recovery codes, invitations,
-- browser sessions, failed sign-ins — and the audit log.
--
-- Secrets are never stored: recovery codes, invitation links and session
-- cookies are kept as their SHA-256, and the TOTP secret sealed by the
-- server.

ALTER TABLE users
	ADD COLUMN disabled_at timestamptz,
	ADD COLUMN totp_sealed bytea, -- NULL when none is set up
	ADD COLUMN totp_confirmed_at timestamptz,
	ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    bytea NOT NULL,
	used_at timestamptz, -- NULL while unused
	PRIMARY KEY (user_id, hash)
);

-- An org_admin invitation has no school; every other role is per school,
-- as in role_grants.
CREATE TABLE invites (
	id          uuid PRIMARY KEY,
	hash        bytea NOT NULL,
	email       text NOT NULL,
	name        text NOT NULL,
	school_id   uuid REFERENCES schools (id) ON DELETE CASCADE,
	role        text NOT NULL,
	created_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at  timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL,
	accepted_at timestamptz, -- NULL until used
	CONSTRAINT invites_hash_key UNIQUE (hash),
	CHECK ((role = 'org_admin') = (school_id IS NULL)),
	CHECK (email = lower(email))
);

CREATE INDEX invites_school_created ON invites (school_id, created_at);
CREATE INDEX invites_created_by ON invites (created_by);

CREATE TABLE sessions (
	id               uuid PRIMARY KEY,
	hash             bytea NOT NULL,
	user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at       timestamptz NOT NULL,
	last_seen_at     timestamptz,
	expires_at       timestamptz NOT NULL,
	second_factor_at timestamptz,
	reauth_at        timestamptz,
	addr             text NOT NULL DEFAULT '',
	user_agent       text NOT NULL DEFAULT '',
	CONSTRAINT sessions_hash_key UNIQUE (hash)
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- key is an email address, or "addr:" and a remote address.
CREATE TABLE login_failures (
	key text NOT NULL,
	at  timestamptz NOT NULL
);

CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- The audit log is append-only and hash-chained (see inventory.AuditEntry).
-- It has no foreign keys, so that deleting a school or a person never
-- changes it; actor_id and school_id are NULL for uuid.Nil, prev_hash for
-- the first entry. Appends serialise on a transaction advisory lock (see
-- AppendAudit). action compares byte-wise, so that a prefix search can use
-- its index.
CREATE TABLE audit_log (
	seq       bigint PRIMARY KEY CHECK (seq > 0),
	at        timestamptz NOT NULL,
	actor_id  uuid,
	actor     text NOT NULL,
	school_id uuid,
	action    text COLLATE "C" NOT NULL,
	record    text NOT NULL DEFAULT '',
	addr      text NOT NULL DEFAULT '',
	detail    text NOT NULL DEFAULT '',
	prev_hash bytea,
	hash      bytea NOT NULL
);

CREATE INDEX audit_log_school_seq ON audit_log (school_id, seq);
CREATE INDEX audit_log_actor_seq ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action_seq ON audit_log (action, seq);
