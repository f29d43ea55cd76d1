-- Secret rotation grace (spec C3): the secret an account replaced keeps signing deliveries beside
-- the new one until previous_valid_until (milliseconds since the Unix epoch). Both are NULL when
-- no grace was asked for; a grace that ended is simply ignored by readers.

ALTER TABLE account_secrets ADD COLUMN previous_secret TEXT;
ALTER TABLE account_secrets ADD COLUMN previous_valid_until INTEGER;
