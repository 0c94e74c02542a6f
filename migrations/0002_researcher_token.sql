-- Researcher tokens: random, shown once, stored only as a SHA-256 hash, scoped,
-- revocable. A revoked token keeps its row (and its name) as a record of who had access.

CREATE TABLE researcher_token (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL,
    scopes        text[]      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CONSTRAINT researcher_token_pkey PRIMARY KEY (id),
    CONSTRAINT researcher_token_name_key UNIQUE (name),
    CONSTRAINT researcher_token_hash_key UNIQUE (token_hash),
    CONSTRAINT researcher_token_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT researcher_token_hash_check CHECK (octet_length(token_hash) = 32),
    -- Every scope is a known one (`<@`: contained in), and there is at least one.
    CONSTRAINT researcher_token_scopes_check
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['reports', 'submit']::text[])
);
