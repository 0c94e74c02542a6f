-- Unfinished multi-page responses (`paging: section`): the answers so far, found by the hash of
-- the private resume token. Drafts are not responses: no report or export reads this table.
-- Each is erased when its response is submitted, and sweeps remove the expired ones.

CREATE TABLE draft (
    token_hash  bytea PRIMARY KEY,
    slug        text NOT NULL,
    version     text NOT NULL,
    answers     jsonb NOT NULL,
    page        integer NOT NULL,
    item_seed   bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX draft_expires_at ON draft (expires_at);
