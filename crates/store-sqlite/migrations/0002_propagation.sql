-- The exposure ledger, the suppression list, opt-outs and their notices (the queue), and the
-- audit log of delivery attempts. Instants are INTEGER milliseconds since the Unix epoch.

-- Which account received which datapoint of which contact. Keyed by contact first: an opt-out
-- reads one contact's rows, so its cost does not grow with the size of the ledger.
CREATE TABLE exposures (
    contact_id         TEXT    NOT NULL,
    account_id         TEXT    NOT NULL,
    datapoint_type     TEXT    NOT NULL,       -- 'email' | 'phone'
    datapoint_id       TEXT    NOT NULL,
    exposed_at         INTEGER NOT NULL,       -- the earliest exposure
    partner_client_id  TEXT,
    PRIMARY KEY (contact_id, account_id, datapoint_type, datapoint_id)
) STRICT, WITHOUT ROWID;

-- Datapoints that must never be exposed again. datapoint_key is '*' for every datapoint of the
-- contact, otherwise '<type>:<value>'.
CREATE TABLE suppressions (
    contact_id     TEXT NOT NULL,
    datapoint_key  TEXT NOT NULL,
    opt_out_id     TEXT NOT NULL,
    PRIMARY KEY (contact_id, datapoint_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE opt_outs (
    id            TEXT    PRIMARY KEY,
    contact_id    TEXT    NOT NULL,
    opted_out_at  INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    notices       INTEGER NOT NULL
) STRICT;

CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    fingerprint  TEXT    NOT NULL,             -- SHA-256 of the request body
    opt_out_ids  TEXT    NOT NULL,             -- JSON array, in request order
    created_at   INTEGER NOT NULL
) STRICT;

-- The queue. state: 'pending' (queued; due at next_attempt_at), 'waiting' (held: the account has
-- no active subscription), 'delivered'. A claim moves next_attempt_at to the end of the lease,
-- so an expired lease makes the notice due again without any sweeper.
CREATE TABLE notices (
    id                TEXT    PRIMARY KEY,
    opt_out_id        TEXT    NOT NULL REFERENCES opt_outs (id),
    account_id        TEXT    NOT NULL,
    payload           BLOB    NOT NULL,        -- frozen body bytes, signed as they are
    state             TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    lease_until       INTEGER,
    lease_token       INTEGER NOT NULL DEFAULT 0,  -- fencing token, bumped by every claim
    last_status_code  INTEGER,
    last_error        TEXT,
    delivered_at      INTEGER,
    created_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX notices_due ON notices (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notices_by_account ON notices (account_id, state);
CREATE INDEX notices_by_opt_out ON notices (opt_out_id);

CREATE TABLE audit_log (
    id               TEXT    PRIMARY KEY,
    account_id       TEXT    NOT NULL,
    subscription_id  TEXT    NOT NULL,
    notice_id        TEXT    NOT NULL,
    status           TEXT    NOT NULL,         -- 'success' | 'failed' | 'permanent_failure'
    status_code      INTEGER,
    url              TEXT    NOT NULL,
    attempted_at     INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    error            TEXT
) STRICT;

CREATE INDEX audit_by_account ON audit_log (account_id, attempted_at DESC);
CREATE INDEX audit_by_subscription ON audit_log (subscription_id, attempted_at DESC);
