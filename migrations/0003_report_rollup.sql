-- Sufficient statistics for reports, folded in from responses on read.
--
-- A submission only inserts its own row: nothing that every submission updates, so concurrent
-- submissions never queue on a lock. A report folds the responses not yet folded into
-- report_rollup (under an advisory lock, in one statement), then sums the rollup rows that
-- match its filters, plus whatever arrived meanwhile. Deleting a folded response subtracts
-- its contribution in the same transaction.
--
-- key is a text array, e.g. {v,say_why,4} (count of answers 4 to say_why) or
-- {r,personalization,say_why,no_note} (sum of products over complete cases): stats.py reads it.

ALTER TABLE response ADD COLUMN folded boolean NOT NULL DEFAULT false;
CREATE INDEX response_unfolded_idx ON response (slug) WHERE NOT folded;
CREATE INDEX response_quote_idx ON response (slug, created_at) WHERE quote_consent;

CREATE TABLE report_rollup (
    slug     text             NOT NULL,
    version  text             NOT NULL,
    day      date             NOT NULL,
    source   text             NOT NULL,
    key      text[]           NOT NULL,
    value    double precision NOT NULL,
    CONSTRAINT report_rollup_pkey PRIMARY KEY (slug, day, version, source, key)
);

-- The item lists the rollup of a questionnaire was folded with, so that deleting a folded
-- response subtracts exactly what folding it added.
CREATE TABLE report_shape (
    slug   text  NOT NULL,
    shape  jsonb NOT NULL,
    CONSTRAINT report_shape_pkey PRIMARY KEY (slug)
);
