-- 0006_register: the hardware register, staff loans with their history
-- and signed agreements, each school's agreement templates and loan
-- settings, and day sign-outs of shared kit.
--
-- Dates without a time (purchase_date, warranty_end, os_end_of_support,
-- expected_return) are date, NULL when not recorded. Amounts are bigint
-- pence.
--
-- Nothing here is deleted: assets, loans and sign-outs refer to their
-- school without cascading, as devices do, so a school with kit cannot be
-- deleted by accident; a device that goes leaves its register entry
-- unlinked.

ALTER TABLE schools
	ADD COLUMN loan_require_lead_approval boolean NOT NULL DEFAULT false,
	-- 0 means inventory.DefaultCheckInterval.
	ADD COLUMN loan_check_interval_days integer NOT NULL DEFAULT 0
		CONSTRAINT schools_loan_check_interval_days_check CHECK (loan_check_interval_days BETWEEN 0 AND 366);

-- The *_key columns hold the entry's sort keys, lowered by the store in Go
-- exactly as inventory.Asset.SortKey lowers them ('' for none, which sorts
-- last), and location_key and search_key the lowered text that the
-- location filter and the search compare. They use the C collation, so
-- they sort in byte order whatever the database's locale, as they do on
-- SQLite and in Go.
CREATE TABLE assets (
	id                  uuid PRIMARY KEY,
	school_id           uuid NOT NULL REFERENCES schools (id),
	kind                text NOT NULL,
	make                text NOT NULL DEFAULT '',
	model               text NOT NULL DEFAULT '',
	serial              text NOT NULL DEFAULT '',
	asset_tag           text NOT NULL DEFAULT '',
	status              text NOT NULL CHECK (status IN
		('in_stock', 'on_loan', 'assigned', 'in_repair', 'lost', 'retired', 'disposed')),
	location            text NOT NULL DEFAULT '',
	purchase_date       date,
	purchase_cost_pence bigint NOT NULL DEFAULT 0 CHECK (purchase_cost_pence >= 0),
	supplier            text NOT NULL DEFAULT '',
	warranty_end        date,
	os_end_of_support   date,
	notes               text NOT NULL DEFAULT '',
	assigned_to         text NOT NULL DEFAULT '',
	shared              boolean NOT NULL DEFAULT false,
	device_id           uuid REFERENCES devices (id) ON DELETE SET NULL,
	created_at          timestamptz NOT NULL,
	updated_at          timestamptz NOT NULL,
	asset_tag_key       text COLLATE "C" NOT NULL DEFAULT '',
	serial_key          text COLLATE "C" NOT NULL DEFAULT '',
	model_key           text COLLATE "C" NOT NULL DEFAULT '',
	location_key        text COLLATE "C" NOT NULL DEFAULT '',
	search_key          text COLLATE "C" NOT NULL DEFAULT '',
	CONSTRAINT assets_device_id_key UNIQUE (device_id),
	CHECK (serial <> '' OR asset_tag <> '')
);

-- A serial number and an asset tag each identify kit within its school.
CREATE UNIQUE INDEX assets_school_serial_key ON assets (school_id, serial) WHERE serial <> '';
CREATE UNIQUE INDEX assets_school_asset_tag_key ON assets (school_id, asset_tag) WHERE asset_tag <> '';
-- One per order of the register within a school, ending in id, so that a
-- page is a range scan; and the filters' columns.
CREATE INDEX assets_school_by_id ON assets (school_id, id);
CREATE INDEX assets_school_by_asset_tag ON assets (school_id, asset_tag_key, id);
CREATE INDEX assets_school_by_serial ON assets (school_id, serial_key, id);
CREATE INDEX assets_school_by_model ON assets (school_id, model_key, id);
CREATE INDEX assets_school_status ON assets (school_id, status, id);
CREATE INDEX assets_school_kind ON assets (school_id, kind, id);
CREATE INDEX assets_school_location ON assets (school_id, location_key);

-- A loan's people are users; the approvers and the technicians who hand
-- the kit over and receive it back are NULL until they act. check_due_at
-- is inventory.Loan.CheckDue, written with every change of the loan and
-- NULL unless it is on loan, so that the check reminders read a range of
-- loans_check_due. version counts the changes saved (optimistic
-- concurrency, see inventory.LoanStore.UpdateLoan).
CREATE TABLE loans (
	id                  uuid PRIMARY KEY,
	school_id           uuid NOT NULL REFERENCES schools (id),
	asset_id            uuid REFERENCES assets (id),
	kind                text NOT NULL,
	borrower_id         uuid NOT NULL REFERENCES users (id),
	requested_by        uuid NOT NULL REFERENCES users (id),
	reason              text NOT NULL,
	expected_return     date,
	status              text NOT NULL CHECK (status IN
		('requested', 'approved', 'signed', 'on_loan', 'returned', 'declined', 'cancelled')),
	needs_lead_approval boolean NOT NULL,
	head_approved_by    uuid REFERENCES users (id),
	head_approved_at    timestamptz,
	lead_approved_by    uuid REFERENCES users (id),
	lead_approved_at    timestamptz,
	declined_by         uuid REFERENCES users (id),
	declined_at         timestamptz,
	decline_reason      text NOT NULL DEFAULT '',
	signed_at           timestamptz,
	handed_over_by      uuid REFERENCES users (id),
	handed_over_at      timestamptz,
	handover_condition  text NOT NULL DEFAULT '',
	accessories         text NOT NULL DEFAULT '',
	check_interval_days integer NOT NULL CHECK (check_interval_days >= 0),
	last_check_at       timestamptz,
	check_reminded_at   timestamptz,
	overdue_reminded_at timestamptz,
	returned_at         timestamptz,
	received_by         uuid REFERENCES users (id),
	return_condition    text NOT NULL DEFAULT '',
	return_notes        text NOT NULL DEFAULT '',
	created_at          timestamptz NOT NULL,
	updated_at          timestamptz NOT NULL,
	version             integer NOT NULL CHECK (version > 0),
	check_due_at        timestamptz,
	CHECK (status <> 'on_loan' OR asset_id IS NOT NULL)
);

-- Kit is named by at most one open loan (inventory.OpenLoanStatuses).
CREATE UNIQUE INDEX loans_open_asset_key ON loans (asset_id)
	WHERE status IN ('requested', 'approved', 'signed', 'on_loan') AND asset_id IS NOT NULL;
CREATE INDEX loans_school_status ON loans (school_id, status, id);
CREATE INDEX loans_school_id ON loans (school_id, id);
CREATE INDEX loans_borrower_id ON loans (borrower_id, id);
CREATE INDEX loans_asset_id ON loans (asset_id, id);
CREATE INDEX loans_check_due ON loans (check_due_at) WHERE check_due_at IS NOT NULL;

-- A loan's history, which is also its kit's: append-only.
CREATE TABLE loan_events (
	id        uuid PRIMARY KEY,
	loan_id   uuid NOT NULL REFERENCES loans (id),
	school_id uuid NOT NULL REFERENCES schools (id),
	asset_id  uuid REFERENCES assets (id), -- NULL before a device is chosen
	action    text NOT NULL,
	actor_id  uuid REFERENCES users (id),
	at        timestamptz NOT NULL,
	detail    text NOT NULL DEFAULT ''
);

CREATE INDEX loan_events_loan_at ON loan_events (loan_id, at, id);
CREATE INDEX loan_events_asset_at ON loan_events (asset_id, at, id);

-- The agreement a borrower signed, kept exactly as signed: the store
-- inserts it once, and the triggers refuse any change or removal.
CREATE TABLE loan_agreements (
	loan_id          uuid PRIMARY KEY REFERENCES loans (id),
	template_version integer NOT NULL CHECK (template_version >= 0),
	text             text NOT NULL,
	sha256           text NOT NULL,
	full_name        text NOT NULL,
	signed_at        timestamptz NOT NULL,
	address          text NOT NULL DEFAULT '',
	pdf              bytea NOT NULL
);

CREATE FUNCTION loan_agreements_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'signed agreements never change';
END;
$$;

CREATE TRIGGER loan_agreements_no_change BEFORE UPDATE OR DELETE ON loan_agreements
	FOR EACH ROW EXECUTE FUNCTION loan_agreements_immutable();
CREATE TRIGGER loan_agreements_no_truncate BEFORE TRUNCATE ON loan_agreements
	FOR EACH STATEMENT EXECUTE FUNCTION loan_agreements_immutable();

-- Versions of a school's agreement, never changed: editing adds one.
-- declarations is a JSON array of text.
CREATE TABLE agreement_templates (
	id           uuid PRIMARY KEY,
	school_id    uuid NOT NULL REFERENCES schools (id),
	version      integer NOT NULL CHECK (version > 0),
	title        text NOT NULL,
	body         text NOT NULL,
	declarations jsonb NOT NULL DEFAULT '[]',
	created_by   uuid REFERENCES users (id),
	created_at   timestamptz NOT NULL,
	CONSTRAINT agreement_templates_school_version_key UNIQUE (school_id, version)
);

-- Shared kit out for the day; back_at is NULL while it is out, and kit is
-- out on at most one sign-out.
CREATE TABLE sign_outs (
	id        uuid PRIMARY KEY,
	school_id uuid NOT NULL REFERENCES schools (id),
	asset_id  uuid NOT NULL REFERENCES assets (id),
	user_id   uuid NOT NULL REFERENCES users (id),
	out_by    uuid NOT NULL REFERENCES users (id),
	out_at    timestamptz NOT NULL,
	due_back  timestamptz,
	back_at   timestamptz,
	back_by   uuid REFERENCES users (id)
);

CREATE UNIQUE INDEX sign_outs_out_asset_key ON sign_outs (asset_id) WHERE back_at IS NULL;
CREATE INDEX sign_outs_school_out ON sign_outs (school_id, out_at DESC, id DESC);
CREATE INDEX sign_outs_asset_out ON sign_outs (asset_id, out_at DESC, id DESC);
CREATE INDEX sign_outs_user_out ON sign_outs (user_id, out_at DESC, id DESC);
