-- 0002_policy: each school's compliance policy (NULL means the default
-- policy), and an index for listing a school's events, such as its USB
-- insertions, newest first.

ALTER TABLE schools ADD COLUMN policy TEXT;

CREATE INDEX events_school_occurred ON events (school_id, occurred_at DESC, id DESC);
