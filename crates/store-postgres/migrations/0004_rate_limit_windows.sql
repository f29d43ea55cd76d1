-- Rate-limit counters of the account API, shared by every node: requests counted per account and
-- fixed window (window_start in Unix seconds). Only the current and the previous window of an
-- account matter; older rows are deleted when an account's next window begins.

CREATE TABLE rate_limit_windows (
    account_id   TEXT    NOT NULL,
    window_start BIGINT  NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (account_id, window_start)
);
