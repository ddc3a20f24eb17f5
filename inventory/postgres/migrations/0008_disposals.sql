-- 0008_disposals: kit leaving the school for good — how, when, to whom,
-- and the certificate of secure data destruction where there is one.
--
-- A disposal is recorded once per piece of kit, in the transaction that
-- marks the kit disposed and deletes its PIN records and their history;
-- the register entry stays, read-only. method is checked by the store
-- (inventory.DisposalMethods). date is the day the kit left. The
-- certificate is kept exactly as uploaded, with its name, media type and
-- the lower-case hex SHA-256 of its bytes, or is NULL with all three ''.

CREATE TABLE disposals (
	asset_id           uuid PRIMARY KEY REFERENCES assets (id),
	school_id          uuid NOT NULL REFERENCES schools (id),
	method             text NOT NULL,
	date               date NOT NULL,
	recipient          text NOT NULL,
	notes              text NOT NULL DEFAULT '',
	certificate        bytea,
	certificate_name   text NOT NULL DEFAULT '',
	certificate_type   text NOT NULL DEFAULT '',
	certificate_sha256 text NOT NULL DEFAULT '',
	recorded_by        uuid NOT NULL REFERENCES users (id),
	recorded_at        timestamptz NOT NULL,
	CONSTRAINT disposals_certificate_check CHECK (certificate IS NOT NULL OR
		(certificate_name = '' AND certificate_type = '' AND certificate_sha256 = '')),
	CONSTRAINT disposals_certificate_sha256_check CHECK (certificate IS NULL OR length(certificate_sha256) = 64)
);

CREATE INDEX disposals_school_date ON disposals (school_id, date, asset_id);

-- Append-only: the triggers refuse any change or removal.
CREATE FUNCTION disposals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'disposals never change';
END;
$$;

CREATE TRIGGER disposals_no_change BEFORE UPDATE OR DELETE ON disposals
	FOR EACH ROW EXECUTE FUNCTION disposals_append_only();
CREATE TRIGGER disposals_no_truncate BEFORE TRUNCATE ON disposals
	FOR EACH STATEMENT EXECUTE FUNCTION disposals_append_only();
