-- The authorization-code grant: public clients (no secret), each client's redirect URIs, and
-- the codes waiting to be redeemed (only their hashes, as every secret here).

ALTER TABLE auth_clients ALTER COLUMN secret_hash DROP NOT NULL;
ALTER TABLE auth_clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';

CREATE TABLE auth_codes (
    hash       BYTEA  PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    code       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_by   TEXT
);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
