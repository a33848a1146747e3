-- tower-api-auth: API keys, refresh sessions, OAuth clients and the fleet's revocations.
-- Secrets are never stored: only their hashes (see the `sql` module's documentation).
-- Times are unix seconds; a time too late for INTEGER is stored as 9223372036854775807 ("never").

CREATE TABLE auth_api_keys (
    key_id       TEXT    PRIMARY KEY,
    hash         BLOB    NOT NULL,
    owner        TEXT,
    name         TEXT    NOT NULL DEFAULT '',
    tenants      TEXT    NOT NULL DEFAULT '[]',
    scopes       TEXT    NOT NULL DEFAULT '',
    expires_at   INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0,
    disabled     INTEGER NOT NULL DEFAULT 0,
    metadata     TEXT    NOT NULL DEFAULT '{}',
    created_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX auth_api_keys_owner ON auth_api_keys (owner);

CREATE TABLE auth_api_key_tenants (
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES auth_api_keys (key_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant, key_id)
);
CREATE INDEX auth_api_key_tenants_key ON auth_api_key_tenants (key_id);

CREATE TABLE auth_sessions (
    id           TEXT    PRIMARY KEY,
    slot         TEXT    UNIQUE,
    subject      TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    tenants      TEXT    NOT NULL,
    client_id    TEXT,
    api_key_id   TEXT,
    claims       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    idle_timeout INTEGER,
    generation   INTEGER NOT NULL,
    current_hash BLOB    NOT NULL,
    last_used    INTEGER NOT NULL,
    grace_sealed BLOB,
    grace_until  INTEGER
);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
CREATE INDEX auth_sessions_grace ON auth_sessions (grace_until) WHERE grace_until IS NOT NULL;

CREATE TABLE auth_clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    scopes      TEXT NOT NULL,
    tenants     TEXT NOT NULL
);

CREATE TABLE auth_revocations (
    kind  TEXT    NOT NULL,
    id    TEXT    NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX auth_revocations_until ON auth_revocations (until);

-- SQLite has no notifications: every published event is appended here and polled.
CREATE TABLE auth_feed_log (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT    NOT NULL,
    at    INTEGER NOT NULL
);
CREATE INDEX auth_feed_log_at ON auth_feed_log (at);
