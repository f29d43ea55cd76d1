-- The exposure ledger, the suppression list, opt-outs and their notices (the queue), and the
-- audit log of delivery attempts. Instants are BIGINT milliseconds since the Unix epoch.

-- Which account received which datapoint of which contact. Keyed by contact first: an opt-out
-- reads one contact's rows, so its cost does not grow with the size of the ledger.
CREATE TABLE exposures (
    contact_id         TEXT    NOT NULL,
    account_id         TEXT    NOT NULL,
    datapoint_type     TEXT    NOT NULL,       -- 'email' | 'phone'
    datapoint_id       TEXT    NOT NULL,
    exposed_at         BIGINT  NOT NULL,       -- the earliest exposure
    partner_client_id  TEXT,
    PRIMARY KEY (contact_id, account_id, datapoint_type, datapoint_id)
);

-- Datapoints that must never be exposed again. datapoint_key is '*' for every datapoint of the
-- contact, otherwise '<type>:<value>'.
CREATE TABLE suppressions (
    contact_id     TEXT NOT NULL,
    datapoint_key  TEXT NOT NULL,
    opt_out_id     TEXT NOT NULL,
    PRIMARY KEY (contact_id, datapoint_key)
);

CREATE TABLE opt_outs (
    id            TEXT    PRIMARY KEY,
    contact_id    TEXT    NOT NULL,
    opted_out_at  BIGINT  NOT NULL,
    recorded_at   BIGINT  NOT NULL,
    notices       BIGINT  NOT NULL
);

CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    fingerprint  TEXT    NOT NULL,             -- SHA-256 of the request body
    opt_out_ids  TEXT[]  NOT NULL,             -- in request order
    created_at   BIGINT  NOT NULL
);

-- The queue. state: 'pending' (queued; due at next_attempt_at), 'waiting' (held: the account has
-- no active subscription), 'delivered'. A claim moves next_attempt_at to the end of the lease,
-- so an expired lease makes the notice due again without any sweeper.
CREATE TABLE notices (
    id                TEXT    PRIMARY KEY,
    opt_out_id        TEXT    NOT NULL REFERENCES opt_outs (id),
    account_id        TEXT    NOT NULL,
    payload           BYTEA   NOT NULL,        -- frozen body bytes, signed as they are
    state             TEXT    NOT NULL CHECK (state IN ('pending', 'waiting', 'delivered')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    lease_until       BIGINT,
    lease_token       BIGINT  NOT NULL DEFAULT 0,  -- fencing token, bumped by every claim
    last_status_code  INTEGER,
    last_error        TEXT,
    delivered_at      BIGINT,
    created_at        BIGINT  NOT NULL
);

CREATE INDEX notices_due ON notices (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notices_by_account ON notices (account_id, state);
CREATE INDEX notices_by_opt_out ON notices (opt_out_id);

CREATE TABLE audit_log (
    id               TEXT    PRIMARY KEY,
    seq              BIGINT  GENERATED ALWAYS AS IDENTITY,  -- insertion order, to break ties
    account_id       TEXT    NOT NULL,
    subscription_id  TEXT    NOT NULL,
    notice_id        TEXT    NOT NULL,
    status           TEXT    NOT NULL,         -- 'success' | 'failed' | 'permanent_failure'
    status_code      INTEGER,
    url              TEXT    NOT NULL,
    attempted_at     BIGINT  NOT NULL,
    duration_ms      BIGINT  NOT NULL,
    error            TEXT
);

CREATE INDEX audit_by_account ON audit_log (account_id, attempted_at DESC, seq DESC);
CREATE INDEX audit_by_subscription ON audit_log (subscription_id, attempted_at DESC, seq DESC);
