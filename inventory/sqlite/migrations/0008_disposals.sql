-- 0008_disposals: kit leaving the school for good — how, when, to whom,
-- and the certificate of secure data destruction where there is one.
--
-- A disposal is recorded once per piece of kit, in the transaction that
-- marks the kit disposed and deletes its PIN records and their history;
-- the register entry stays, read-only. method is checked by the store
-- (inventory.DisposalMethods). date is the day the kit left, in the form
-- 2006-01-02. The certificate is kept exactly as uploaded, with its name,
-- media type and the lower-case hex SHA-256 of its bytes, or is NULL with
-- all three ''.

CREATE TABLE disposals (
	asset_id           TEXT NOT NULL PRIMARY KEY REFERENCES assets (id),
	school_id          TEXT NOT NULL REFERENCES schools (id),
	method             TEXT NOT NULL,
	date               TEXT NOT NULL,
	recipient          TEXT NOT NULL,
	notes              TEXT NOT NULL DEFAULT '',
	certificate        BLOB,
	certificate_name   TEXT NOT NULL DEFAULT '',
	certificate_type   TEXT NOT NULL DEFAULT '',
	certificate_sha256 TEXT NOT NULL DEFAULT '',
	recorded_by        TEXT NOT NULL REFERENCES users (id),
	recorded_at        TEXT NOT NULL,
	CHECK (certificate IS NOT NULL OR
		(certificate_name = '' AND certificate_type = '' AND certificate_sha256 = '')),
	CHECK (certificate IS NULL OR length(certificate_sha256) = 64)
) STRICT;

CREATE INDEX disposals_school_date ON disposals (school_id, date, asset_id);

-- Append-only: the triggers refuse any change or removal.
CREATE TRIGGER disposals_no_update BEFORE UPDATE ON disposals
BEGIN
	SELECT RAISE(ABORT, 'disposals never change');
END;

CREATE TRIGGER disposals_no_delete BEFORE DELETE ON disposals
BEGIN
	SELECT RAISE(ABORT, 'disposals never change');
END;
