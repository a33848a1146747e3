-- The authorization-code grant: public clients (no secret), each client's redirect URIs, and
-- the codes waiting to be redeemed (only their hashes, as every secret here).

-- SQLite cannot drop a NOT NULL constraint: the table is rebuilt, its rows copied.
CREATE TABLE auth_clients_next (
    client_id     TEXT PRIMARY KEY,
    secret_hash   BLOB,
    scopes        TEXT NOT NULL,
    tenants       TEXT NOT NULL,
    redirect_uris TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO auth_clients_next (client_id, secret_hash, scopes, tenants)
    SELECT client_id, secret_hash, scopes, tenants FROM auth_clients;
DROP TABLE auth_clients;
ALTER TABLE auth_clients_next RENAME TO auth_clients;

CREATE TABLE auth_codes (
    hash       BLOB    PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    code       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_by   TEXT
);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
