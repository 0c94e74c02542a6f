-- Questionnaire versions and scored responses.

CREATE TABLE questionnaire_version (
    slug        text        NOT NULL,
    version     text        NOT NULL,
    title       text        NOT NULL,
    definition  jsonb       NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT questionnaire_version_pkey PRIMARY KEY (slug, version)
);

-- One row a submission. Answers are JSONB keyed by item id, so SQL can aggregate any item:
-- (answers ->> 'note_on_request')::int. Scores keep full precision; the API rounds.
-- No IP address or user agent is stored, by design.
CREATE TABLE response (
    id                 uuid             NOT NULL,
    slug               text             NOT NULL,
    version            text             NOT NULL,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    source             text             NOT NULL,
    answers            jsonb            NOT NULL,
    dimensions         jsonb            NOT NULL,
    index_score        double precision,
    profile            text,
    complete           boolean          NOT NULL,
    quote_consent      boolean          NOT NULL DEFAULT false,
    result_token_hash  bytea            NOT NULL,
    idempotency_key    text,
    request_hash       bytea,
    CONSTRAINT response_pkey PRIMARY KEY (id),
    CONSTRAINT response_version_fkey FOREIGN KEY (slug, version)
        REFERENCES questionnaire_version (slug, version),
    CONSTRAINT response_source_check CHECK (source IN ('web', 'api', 'import', 'demo')),
    CONSTRAINT response_complete_check CHECK (complete = (index_score IS NOT NULL)),
    CONSTRAINT response_result_token_key UNIQUE (result_token_hash),
    CONSTRAINT response_idempotency_key UNIQUE (slug, idempotency_key)
);

CREATE INDEX response_slug_created_idx ON response (slug, created_at);
-- The percentile on a result page counts scored responses below an index.
CREATE INDEX response_slug_index_idx ON response (slug, index_score) WHERE complete;
