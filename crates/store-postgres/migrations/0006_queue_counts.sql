-- Queue metrics without reading the whole history. Notices are never deleted, so counting them by
-- state read every notice ever made (a sequential scan, every scrape on every node).

-- Holding and releasing an account's notices only ever looks for undelivered ones. Indexing only
-- those keeps the index to the queue's size, lets the metrics count undelivered notices from it,
-- and a delivery removes its notice's entry instead of moving it to a 'delivered' key.
DROP INDEX notices_by_account;
CREATE INDEX notices_by_account ON notices (account_id, state) WHERE state <> 'delivered';

-- Notices ever created, kept by a trigger: delivered ones are these less the undelivered ones.
-- Each connection adds to one of 64 shards (by backend process id; a node's pool has 10), so
-- concurrent intakes on different connections seldom wait for each other's row lock.
CREATE TABLE notice_totals (
    shard   INTEGER PRIMARY KEY,
    created BIGINT  NOT NULL
);

CREATE FUNCTION count_created_notices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notice_totals AS totals (shard, created)
    SELECT pg_backend_pid() % 64, COUNT(*) FROM created_notices HAVING COUNT(*) > 0
    ON CONFLICT (shard) DO UPDATE SET created = totals.created + EXCLUDED.created;
    RETURN NULL;
END
$$;

-- Created before the first count, in this transaction: its lock on notices keeps nodes still
-- running the previous version from inserting between the count and the trigger.
CREATE TRIGGER notices_counted AFTER INSERT ON notices
    REFERENCING NEW TABLE AS created_notices
    FOR EACH STATEMENT EXECUTE FUNCTION count_created_notices();

INSERT INTO notice_totals (shard, created) SELECT 0, COUNT(*) FROM notices;
