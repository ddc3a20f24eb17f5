-- 0006_register: the hardware register, staff loans with their history
-- and signed agreements, each school's agreement templates and loan
-- settings, and day sign-outs of shared kit.
--
-- Dates without a time (purchase_date, warranty_end, os_end_of_support,
-- expected_return) are text in the form 2006-01-02, NULL when not
-- recorded. Amounts are integer pence. Booleans are 0 or 1.
--
-- Nothing here is deleted: assets, loans and sign-outs refer to their
-- school without cascading, as devices do, so a school with kit cannot be
-- deleted by accident; a device that goes leaves its register entry
-- unlinked.

ALTER TABLE schools ADD COLUMN loan_require_lead_approval INTEGER NOT NULL DEFAULT 0
	CHECK (loan_require_lead_approval IN (0, 1));
-- 0 means inventory.DefaultCheckInterval.
ALTER TABLE schools ADD COLUMN loan_check_interval_days INTEGER NOT NULL DEFAULT 0
	CHECK (loan_check_interval_days BETWEEN 0 AND 366);

-- The *_key columns hold the entry's sort keys, lowered by the store in Go
-- exactly as inventory.Asset.SortKey lowers them ('' for none, which sorts
-- last), and location_key and search_key the lowered text that the
-- location filter and the search compare, so that the store matches case
-- as Go folds it rather than as SQLite's ASCII-only lower() does.
CREATE TABLE assets (
	id                  TEXT NOT NULL PRIMARY KEY,
	school_id           TEXT NOT NULL REFERENCES schools (id),
	kind                TEXT NOT NULL,
	make                TEXT NOT NULL DEFAULT '',
	model               TEXT NOT NULL DEFAULT '',
	serial              TEXT NOT NULL DEFAULT '',
	asset_tag           TEXT NOT NULL DEFAULT '',
	status              TEXT NOT NULL CHECK (status IN
		('in_stock', 'on_loan', 'assigned', 'in_repair', 'lost', 'retired', 'disposed')),
	location            TEXT NOT NULL DEFAULT '',
	purchase_date       TEXT,
	purchase_cost_pence INTEGER NOT NULL DEFAULT 0 CHECK (purchase_cost_pence >= 0),
	supplier            TEXT NOT NULL DEFAULT '',
	warranty_end        TEXT,
	os_end_of_support   TEXT,
	notes               TEXT NOT NULL DEFAULT '',
	assigned_to         TEXT NOT NULL DEFAULT '',
	shared              INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
	device_id           TEXT REFERENCES devices (id) ON DELETE SET NULL,
	created_at          TEXT NOT NULL,
	updated_at          TEXT NOT NULL,
	asset_tag_key       TEXT NOT NULL DEFAULT '',
	serial_key          TEXT NOT NULL DEFAULT '',
	model_key           TEXT NOT NULL DEFAULT '',
	location_key        TEXT NOT NULL DEFAULT '',
	search_key          TEXT NOT NULL DEFAULT '',
	CONSTRAINT assets_device_id_key UNIQUE (device_id),
	CHECK (serial <> '' OR asset_tag <> '')
) STRICT;

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
	id                  TEXT NOT NULL PRIMARY KEY,
	school_id           TEXT NOT NULL REFERENCES schools (id),
	asset_id            TEXT REFERENCES assets (id),
	kind                TEXT NOT NULL,
	borrower_id         TEXT NOT NULL REFERENCES users (id),
	requested_by        TEXT NOT NULL REFERENCES users (id),
	reason              TEXT NOT NULL,
	expected_return     TEXT,
	status              TEXT NOT NULL CHECK (status IN
		('requested', 'approved', 'signed', 'on_loan', 'returned', 'declined', 'cancelled')),
	needs_lead_approval INTEGER NOT NULL CHECK (needs_lead_approval IN (0, 1)),
	head_approved_by    TEXT REFERENCES users (id),
	head_approved_at    TEXT,
	lead_approved_by    TEXT REFERENCES users (id),
	lead_approved_at    TEXT,
	declined_by         TEXT REFERENCES users (id),
	declined_at         TEXT,
	decline_reason      TEXT NOT NULL DEFAULT '',
	signed_at           TEXT,
	handed_over_by      TEXT REFERENCES users (id),
	handed_over_at      TEXT,
	handover_condition  TEXT NOT NULL DEFAULT '',
	accessories         TEXT NOT NULL DEFAULT '',
	check_interval_days INTEGER NOT NULL CHECK (check_interval_days >= 0),
	last_check_at       TEXT,
	check_reminded_at   TEXT,
	overdue_reminded_at TEXT,
	returned_at         TEXT,
	received_by         TEXT REFERENCES users (id),
	return_condition    TEXT NOT NULL DEFAULT '',
	return_notes        TEXT NOT NULL DEFAULT '',
	created_at          TEXT NOT NULL,
	updated_at          TEXT NOT NULL,
	version             INTEGER NOT NULL CHECK (version > 0),
	check_due_at        TEXT,
	CHECK (status <> 'on_loan' OR asset_id IS NOT NULL)
) STRICT;

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
	id        TEXT NOT NULL PRIMARY KEY,
	loan_id   TEXT NOT NULL REFERENCES loans (id),
	school_id TEXT NOT NULL REFERENCES schools (id),
	asset_id  TEXT REFERENCES assets (id), -- NULL before a device is chosen
	action    TEXT NOT NULL,
	actor_id  TEXT REFERENCES users (id),
	at        TEXT NOT NULL,
	detail    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX loan_events_loan_at ON loan_events (loan_id, at, id);
CREATE INDEX loan_events_asset_at ON loan_events (asset_id, at, id);

-- The agreement a borrower signed, kept exactly as signed: the store
-- inserts it once, and the triggers refuse any change or removal.
CREATE TABLE loan_agreements (
	loan_id          TEXT NOT NULL PRIMARY KEY REFERENCES loans (id),
	template_version INTEGER NOT NULL CHECK (template_version >= 0),
	text             TEXT NOT NULL,
	sha256           TEXT NOT NULL,
	full_name        TEXT NOT NULL,
	signed_at        TEXT NOT NULL,
	address          TEXT NOT NULL DEFAULT '',
	pdf              BLOB NOT NULL
) STRICT;

CREATE TRIGGER loan_agreements_no_update BEFORE UPDATE ON loan_agreements
BEGIN
	SELECT RAISE(ABORT, 'signed agreements never change');
END;

CREATE TRIGGER loan_agreements_no_delete BEFORE DELETE ON loan_agreements
BEGIN
	SELECT RAISE(ABORT, 'signed agreements never change');
END;

-- Versions of a school's agreement, never changed: editing adds one.
-- declarations is a JSON array of text.
CREATE TABLE agreement_templates (
	id           TEXT NOT NULL PRIMARY KEY,
	school_id    TEXT NOT NULL REFERENCES schools (id),
	version      INTEGER NOT NULL CHECK (version > 0),
	title        TEXT NOT NULL,
	body         TEXT NOT NULL,
	declarations TEXT NOT NULL DEFAULT '[]',
	created_by   TEXT REFERENCES users (id),
	created_at   TEXT NOT NULL,
	CONSTRAINT agreement_templates_school_version_key UNIQUE (school_id, version)
) STRICT;

-- Shared kit out for the day; back_at is NULL while it is out, and kit is
-- out on at most one sign-out.
CREATE TABLE sign_outs (
	id        TEXT NOT NULL PRIMARY KEY,
	school_id TEXT NOT NULL REFERENCES schools (id),
	asset_id  TEXT NOT NULL REFERENCES assets (id),
	user_id   TEXT NOT NULL REFERENCES users (id),
	out_by    TEXT NOT NULL REFERENCES users (id),
	out_at    TEXT NOT NULL,
	due_back  TEXT,
	back_at   TEXT,
	back_by   TEXT REFERENCES users (id)
) STRICT;

CREATE UNIQUE INDEX sign_outs_out_asset_key ON sign_outs (asset_id) WHERE back_at IS NULL;
CREATE INDEX sign_outs_school_out ON sign_outs (school_id, out_at DESC, id DESC);
CREATE INDEX sign_outs_asset_out ON sign_outs (asset_id, out_at DESC, id DESC);
CREATE INDEX sign_outs_user_out ON sign_outs (user_id, out_at DESC, id DESC);
