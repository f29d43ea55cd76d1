-- Notice bodies in a table of their own, keyed by notice id. The queue's rows shrink to a few
-- dozen bytes, so holding and releasing an account's notices, claims and attempt outcomes, which
-- rewrite whole rows, dirty a few times fewer pages: an account's notices are spread over every
-- page of the table, and a body took most of each row. A purged body's row is deleted (the
-- notice keeps `payload_purged_at` and `datapoint_evidence`).
CREATE TABLE notice_payloads (
    notice_id  TEXT PRIMARY KEY,
    payload    BLOB NOT NULL                  -- frozen body bytes, signed as they are
) STRICT, WITHOUT ROWID;

INSERT INTO notice_payloads (notice_id, payload)
    SELECT id, payload FROM notices WHERE payload_purged_at IS NULL;

ALTER TABLE notices DROP COLUMN payload;
