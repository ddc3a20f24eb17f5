-- 0007_pins: the PIN register — each piece of kit's current passcodes,
-- firmware passwords and notes, sealed by the server so the database
-- alone never reveals one — the values they replaced, kept sealed until
-- their retention ends, the append-only PIN log, and each school's PIN
-- settings.
--
-- Nothing here holds a value in the clear: sealed columns are the
-- server's ciphertext, and the log never holds a value at all.

ALTER TABLE schools ADD COLUMN pin_head_may_reveal INTEGER NOT NULL DEFAULT 0
	CHECK (pin_head_may_reveal IN (0, 1));
-- An email address in lower case, '' for none.
ALTER TABLE schools ADD COLUMN pin_network_manager TEXT NOT NULL DEFAULT ''
	CHECK (pin_network_manager = lower(pin_network_manager));
ALTER TABLE schools ADD COLUMN pin_digest_sent_at TEXT; -- NULL until the first digest

-- One record per piece of kit and kind, changed in place: its ID stays,
-- and the value it held goes to pin_history. retired_at is NULL while the
-- record applies. kind is checked by the store (inventory.PINKinds), so a
-- new kind needs no migration.
CREATE TABLE pin_records (
	id         TEXT NOT NULL PRIMARY KEY,
	school_id  TEXT NOT NULL REFERENCES schools (id),
	asset_id   TEXT NOT NULL REFERENCES assets (id),
	kind       TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	set_by     TEXT NOT NULL REFERENCES users (id),
	set_at     TEXT NOT NULL,
	retired_at TEXT,
	CONSTRAINT pin_records_asset_kind_key UNIQUE (asset_id, kind)
) STRICT;

-- The values a record held before, each named by its record and the time
-- it was replaced (the key inventory.Sealed gives it). The store deletes
-- them at the end of their retention, so this table is not append-only.
CREATE TABLE pin_history (
	record_id   TEXT NOT NULL REFERENCES pin_records (id),
	sealed      BLOB NOT NULL,
	set_by      TEXT NOT NULL REFERENCES users (id),
	set_at      TEXT NOT NULL,
	replaced_at TEXT NOT NULL,
	PRIMARY KEY (record_id, replaced_at)
) STRICT;

CREATE INDEX pin_history_replaced_at ON pin_history (replaced_at);

-- Who did what with which kit's PIN. kind is '' for an entry about no
-- one kind (a purge); actor_id is NULL for Rollcall itself. IDs are
-- UUIDv7, so that id order is the order of appending. Append-only: the
-- triggers refuse any change or removal.
CREATE TABLE pin_log (
	id        TEXT NOT NULL PRIMARY KEY,
	school_id TEXT NOT NULL REFERENCES schools (id),
	asset_id  TEXT NOT NULL REFERENCES assets (id),
	kind      TEXT NOT NULL DEFAULT '',
	action    TEXT NOT NULL,
	actor_id  TEXT REFERENCES users (id),
	at        TEXT NOT NULL,
	reason    TEXT NOT NULL DEFAULT '',
	addr      TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX pin_log_school_id ON pin_log (school_id, id DESC);
CREATE INDEX pin_log_asset_id ON pin_log (asset_id, id DESC);
CREATE INDEX pin_log_actor_id ON pin_log (actor_id, id DESC);

CREATE TRIGGER pin_log_no_update BEFORE UPDATE ON pin_log
BEGIN
	SELECT RAISE(ABORT, 'the PIN log is append-only');
END;

CREATE TRIGGER pin_log_no_delete BEFORE DELETE ON pin_log
BEGIN
	SELECT RAISE(ABORT, 'the PIN log is append-only');
END;
