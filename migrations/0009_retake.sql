-- Retakes: a response made through "take it again" on an earlier result page points at the
-- earlier response, so that its result can show the change. Nothing else links the two: the
-- link is the only trace, and deleting either response removes it (the retake's row goes with
-- it; the earlier one's deletion sets this to null).
ALTER TABLE response
    ADD COLUMN retake_of uuid REFERENCES response (id) ON DELETE SET NULL;

-- The foreign key's check when a response is deleted looks here.
CREATE INDEX response_retake_of_idx ON response (retake_of) WHERE retake_of IS NOT NULL;

-- A multi-page retake keeps the pointer in its draft until its last page is sent.
ALTER TABLE draft
    ADD COLUMN retake_of uuid REFERENCES response (id) ON DELETE SET NULL;
CREATE INDEX draft_retake_of_idx ON draft (retake_of) WHERE retake_of IS NOT NULL;
