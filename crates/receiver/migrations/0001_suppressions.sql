-- The receiver's suppression list and the webhook ids it has processed.
-- Instants written by the receiver are INTEGER milliseconds since the Unix epoch; the opt-out
-- date is kept as the sender wrote it (contactOptOutDate), because it is evidence, not a value
-- this side computes with.

CREATE TABLE processed_webhooks (
    webhook_id   TEXT    PRIMARY KEY,          -- X-Lusha-Webhook-Id: the notice id
    body_sha256  TEXT    NOT NULL,             -- hex digest of the signed body first applied
    contact_id   TEXT    NOT NULL,
    datapoints   INTEGER NOT NULL,             -- how many datapoints the notice carried
    received_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE suppressions (
    id              INTEGER PRIMARY KEY,       -- insertion order, the export's order and cursor
    lookup_key      TEXT    NOT NULL,          -- normalised value: what `check` compares
    datapoint_type  TEXT    NOT NULL CHECK (datapoint_type IN ('email', 'phone')),
    datapoint_id    TEXT    NOT NULL,          -- the value exactly as received
    contact_id      TEXT    NOT NULL,
    opted_out_at    TEXT    NOT NULL,          -- contactOptOutDate, as received
    received_at     INTEGER NOT NULL,
    webhook_id      TEXT    NOT NULL REFERENCES processed_webhooks (webhook_id),
    -- One row per value: the first notice naming it wins, later ones add nothing.
    UNIQUE (lookup_key, datapoint_type)
) STRICT;
