-- The order a respondent saw the items of randomised sections in (`randomize: true`), as a
-- JSON list of item ids; NULL where nothing was randomised (and for the API and imports).

ALTER TABLE response ADD COLUMN item_order jsonb;
