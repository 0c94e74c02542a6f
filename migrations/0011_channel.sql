-- Where a response came from: the channel its survey link named (`?src=`), checked against
-- the questionnaire's list or a channel name's shape first; null when the link named none
-- (and for the API and imports). A draft keeps it from the first page to the last.
ALTER TABLE response
    ADD COLUMN channel text CHECK (channel ~ '^[a-z0-9][a-z0-9_-]{0,39}$');
ALTER TABLE draft
    ADD COLUMN channel text CHECK (channel ~ '^[a-z0-9][a-z0-9_-]{0,39}$');
