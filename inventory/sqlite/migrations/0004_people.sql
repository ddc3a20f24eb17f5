-- 0004_people: what people need to sign in and be accountable — a user's
-- disabled time and TOTP second factor, recovery codes, invitations,
-- browser sessions, failed sign-ins — and the audit log.
--
-- Secrets are never stored: recovery codes, invitation links and session
-- cookies are kept as their SHA-256, and the TOTP secret sealed by the
-- server.

ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN totp_sealed BLOB; -- NULL when none is set up
ALTER TABLE users ADD COLUMN totp_confirmed_at TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    BLOB NOT NULL,
	used_at TEXT, -- NULL while unused
	PRIMARY KEY (user_id, hash)
) STRICT;

-- An org_admin invitation has no school; every other role is per school,
-- as in role_grants.
CREATE TABLE invites (
	id          TEXT NOT NULL PRIMARY KEY,
	hash        BLOB NOT NULL,
	email       TEXT NOT NULL,
	name        TEXT NOT NULL,
	school_id   TEXT REFERENCES schools (id) ON DELETE CASCADE,
	role        TEXT NOT NULL,
	created_by  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	accepted_at TEXT, -- NULL until used
	CONSTRAINT invites_hash_key UNIQUE (hash),
	CHECK ((role = 'org_admin') = (school_id IS NULL)),
	CHECK (email = lower(email))
) STRICT;

CREATE INDEX invites_school_created ON invites (school_id, created_at);
CREATE INDEX invites_created_by ON invites (created_by);

CREATE TABLE sessions (
	id               TEXT NOT NULL PRIMARY KEY,
	hash             BLOB NOT NULL,
	user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at       TEXT NOT NULL,
	last_seen_at     TEXT,
	expires_at       TEXT NOT NULL,
	second_factor_at TEXT,
	reauth_at        TEXT,
	addr             TEXT NOT NULL DEFAULT '',
	user_agent       TEXT NOT NULL DEFAULT '',
	CONSTRAINT sessions_hash_key UNIQUE (hash)
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- key is an email address, or "addr:" and a remote address.
CREATE TABLE login_failures (
	key TEXT NOT NULL,
	at  TEXT NOT NULL
) STRICT;

CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- The audit log is append-only and hash-chained (see inventory.AuditEntry).
-- It has no foreign keys, so that deleting a school or a person never
-- changes it; actor_id and school_id are NULL for uuid.Nil, prev_hash for
-- the first entry.
CREATE TABLE audit_log (
	seq       INTEGER NOT NULL PRIMARY KEY CHECK (seq > 0),
	at        TEXT NOT NULL,
	actor_id  TEXT,
	actor     TEXT NOT NULL,
	school_id TEXT,
	action    TEXT NOT NULL,
	record    TEXT NOT NULL DEFAULT '',
	addr      TEXT NOT NULL DEFAULT '',
	detail    TEXT NOT NULL DEFAULT '',
	prev_hash BLOB,
	hash      BLOB NOT NULL
) STRICT;

CREATE INDEX audit_log_school_seq ON audit_log (school_id, seq);
CREATE INDEX audit_log_actor_seq ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action_seq ON audit_log (action, seq);
