-- Preregistration locks (survey freeze): what a study committed to before its data (survey freeze). Each
-- freeze is kept; reports and exports name the latest. Only hashes are stored, and the
-- analysis plan's file name, never the plan itself.
CREATE TABLE preregistration (
    slug        text        NOT NULL,
    frozen_at   timestamptz NOT NULL,
    hash        text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    version     text        NOT NULL,
    rules_hash  text        NOT NULL CHECK (rules_hash ~ '^[0-9a-f]{64}$'),
    plan_sha256 text        CHECK (plan_sha256 ~ '^[0-9a-f]{64}$'),
    plan_name   text,
    PRIMARY KEY (slug, frozen_at)
);
