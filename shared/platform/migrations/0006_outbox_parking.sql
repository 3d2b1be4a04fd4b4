-- Outbox rows that can never be published (a record over the broker's size limit, a topic that
-- does not exist) are parked with their reason instead of being retried for ever: they stop
-- holding back the later rows of their key, and an operator sees them (outbox-relay reports how
-- many are parked and how old the oldest unpublished row is).
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;

DROP INDEX outbox_unpublished;
DROP INDEX outbox_unpublished_by_key;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_unpublished_by_key ON outbox (message_key, id)
    WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL;
