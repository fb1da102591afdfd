-- A patient's private calendar subscription (issue 19): one per account. The URL's token is
-- never stored: the server derives it from `nonce` with its index key and finds the feed by
-- the token's SHA-256. Deleting the row revokes the URL. Erasing the account deletes it.
-- Times in Unix seconds.
CREATE TABLE calendar_feeds (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    nonce       TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
