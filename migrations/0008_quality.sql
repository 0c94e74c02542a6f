-- Quality flags: signs that a response was careless or not made by a person. Flagged
-- responses are kept, counted apart in the rollup (clean), and left out of reports on request.
--
-- flags:        the flag names (too_fast, honeypot, ...), empty when none applies
-- quality:      the measured values the flags were decided on (seconds on the form, longest
--               run of one answer, ...), for the researcher's own rules; null when none
-- answers_hash: SHA-256 of the answers as stored, to find the same answers sent again
-- browser_hash: a keyed hash (HMAC under the service secret) of a random cookie the form sets;
--               never the cookie's value, never an IP address or user agent
ALTER TABLE response
    ADD COLUMN flags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN quality jsonb,
    ADD COLUMN answers_hash bytea,
    ADD COLUMN browser_hash bytea;

CREATE INDEX response_answers_hash_idx ON response (slug, answers_hash, created_at)
    WHERE answers_hash IS NOT NULL;
CREATE INDEX response_browser_hash_idx ON response (slug, browser_hash)
    WHERE browser_hash IS NOT NULL;

-- How the pages saved so far were filled in: seconds on them, and whether one came back
-- without its signed issue time or with the hidden field filled in.
ALTER TABLE draft
    ADD COLUMN seconds double precision NOT NULL DEFAULT 0,
    ADD COLUMN unsigned boolean NOT NULL DEFAULT false,
    ADD COLUMN honeypot boolean NOT NULL DEFAULT false;

-- The rollup keeps clean and flagged responses apart. Every existing row was clean.
ALTER TABLE report_rollup ADD COLUMN clean boolean NOT NULL DEFAULT true;
ALTER TABLE report_rollup DROP CONSTRAINT report_rollup_pkey;
ALTER TABLE report_rollup ADD CONSTRAINT report_rollup_pkey
    PRIMARY KEY (slug, day, version, source, clean, key);
