-- Retention. A delivered notice's body is purged after the payload retention: payload becomes an
-- empty blob, payload_purged_at (milliseconds since the Unix epoch) says when, and
-- datapoint_evidence keeps the salted hashes of its datapoints as JSON
-- {"salt":"<hex>","hashes":[{"type":"email","sha256":"<hex>"},...]}. Both are NULL while the body
-- is kept; a notice not delivered is never purged.

ALTER TABLE notices ADD COLUMN payload_purged_at INTEGER;
ALTER TABLE notices ADD COLUMN datapoint_evidence TEXT;

-- The purge finds delivered, unpurged notices oldest delivered first without reading the queue.
CREATE INDEX notices_purgeable ON notices (delivered_at)
    WHERE state = 'delivered' AND payload_purged_at IS NULL;

-- Audit rows past their retention are deleted by attempt time, across accounts.
CREATE INDEX audit_by_attempted_at ON audit_log (attempted_at);
