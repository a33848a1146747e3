-- How many API-key events the fleet's feed has announced (tower-api-auth's FeedStore::key_epoch):
-- one row, name 'keys', bumped in the transaction that announces a key event. An instance whose
-- copy of the announcement was lost sees the count move at its next resync and drops its cached
-- key answers.
CREATE TABLE auth_feed_epochs (
    name  TEXT   PRIMARY KEY,
    epoch BIGINT NOT NULL
);
