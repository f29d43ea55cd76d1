-- Claims read the due queue from this index alone: with the account in it, skipping the notices
-- of accounts that already have enough claimed never reads the (wide) table rows. The state
-- column makes the partial index covering for the claim's WHERE clause.
DROP INDEX notices_due;
CREATE INDEX notices_due ON notices (next_attempt_at, account_id, state) WHERE state = 'pending';
