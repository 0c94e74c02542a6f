-- Request counts per client and one-minute window, shared by every worker (survey/ratelimit.py).
-- `key` is a keyed hash of the client address: no IP address is stored.
CREATE UNLOGGED TABLE rate_limit (
    key           text    NOT NULL,
    window_start  bigint  NOT NULL,
    hits          integer NOT NULL,
    CONSTRAINT rate_limit_pkey PRIMARY KEY (key, window_start)
);
