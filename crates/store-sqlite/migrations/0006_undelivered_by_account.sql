-- Holding and releasing an account's notices only ever looks for undelivered ones. Indexing only
-- those keeps the index to the queue's size instead of the whole history, and a delivery removes
-- its notice's entry instead of moving it to a 'delivered' key: one index write less per
-- delivery. Queries name `state <> 'delivered'` so that SQLite may use the partial index.
DROP INDEX notices_by_account;
CREATE INDEX notices_by_account ON notices (account_id, state) WHERE state <> 'delivered';
