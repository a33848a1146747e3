-- tower-api-auth: API keys, refresh sessions, OAuth clients and the fleet's revocations.
-- Secrets are never stored: only their hashes (see the `sql` module's documentation).
-- Times are unix seconds; a time too late for BIGINT is stored as 9223372036854775807 ("never").

CREATE TABLE auth_api_keys (
    key_id       TEXT COLLATE "C" PRIMARY KEY,
    hash         BYTEA   NOT NULL,
    owner        TEXT,
    name         TEXT    NOT NULL DEFAULT '',
    tenants      TEXT    NOT NULL DEFAULT '[]',
    scopes       TEXT    NOT NULL DEFAULT '',
    expires_at   BIGINT,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    metadata     TEXT    NOT NULL DEFAULT '{}',
    created_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX auth_api_keys_owner ON auth_api_keys (owner);

CREATE TABLE auth_api_key_tenants (
    tenant TEXT NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL REFERENCES auth_api_keys (key_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant, key_id)
);
CREATE INDEX auth_api_key_tenants_key ON auth_api_key_tenants (key_id);

CREATE TABLE auth_sessions (
    id           TEXT   PRIMARY KEY,
    slot         TEXT   UNIQUE,
    subject      TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    tenants      TEXT   NOT NULL,
    client_id    TEXT,
    api_key_id   TEXT,
    claims       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    idle_timeout BIGINT,
    generation   BIGINT NOT NULL,
    current_hash BYTEA  NOT NULL,
    last_used    BIGINT NOT NULL,
    grace_sealed BYTEA,
    grace_until  BIGINT
);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
CREATE INDEX auth_sessions_grace ON auth_sessions (grace_until) WHERE grace_until IS NOT NULL;

CREATE TABLE auth_clients (
    client_id   TEXT  PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    scopes      TEXT  NOT NULL,
    tenants     TEXT  NOT NULL
);

CREATE TABLE auth_revocations (
    kind  TEXT   NOT NULL,
    id    TEXT   NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX auth_revocations_until ON auth_revocations (until);
