-- Less index work per stored response (issue 5: bulk import).
--
-- Only a submission sent with an Idempotency-Key has one; the others (nearly all, and every
-- imported or demo row) no longer add an entry to this unique index. A lookup by key
-- (`idempotency_key = $2`) implies the condition, so it still uses the index, and
-- `ON CONFLICT DO NOTHING` still takes it as an arbiter.
--
-- Response ids are now UUIDv7 (time-ordered), so new rows go to the right-hand edge of the
-- primary key's index instead of to random pages of it.

ALTER TABLE response DROP CONSTRAINT response_idempotency_key;
CREATE UNIQUE INDEX response_idempotency_key ON response (slug, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
