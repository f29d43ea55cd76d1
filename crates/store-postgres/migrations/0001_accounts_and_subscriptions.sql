-- Accounts, their API keys (hashes only) and webhook secrets, and opt-out subscriptions.
-- Instants are BIGINT milliseconds since the Unix epoch, as in the SQLite schema.

CREATE TABLE accounts (
    id          TEXT    PRIMARY KEY,           -- numeric string (the wire's entityId)
    id_number   BIGINT  NOT NULL UNIQUE,       -- the same id as a number, for allocation
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY,
    account_id  TEXT    NOT NULL REFERENCES accounts (id),
    key_hash    TEXT    NOT NULL UNIQUE,       -- SHA-256 hex of the key; the key itself is never stored
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX api_keys_by_account ON api_keys (account_id);

CREATE TABLE account_secrets (
    account_id  TEXT    PRIMARY KEY REFERENCES accounts (id),
    secret      TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE subscriptions (
    id            TEXT    PRIMARY KEY,         -- 24 hex, ObjectId-style
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    signal_type   TEXT    NOT NULL,            -- 'optOut'
    url           TEXT    NOT NULL,
    name          TEXT,
    is_active     BOOLEAN NOT NULL,
    block_reason  TEXT,
    blocked_at    BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (account_id, signal_type)           -- one opt-out subscription per account
);

CREATE INDEX subscriptions_by_account ON subscriptions (account_id, created_at DESC, id DESC);
