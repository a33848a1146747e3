-- The issuer's rotating signing keys (tower-api-auth's SigningKeyStore). The private key is
-- sealed (AES-256-GCM under the fleet secret) unless the app chose plaintext at rest (sealed =
-- false). A key's kid is derived from when it starts signing: instances rotating at once insert
-- the same kid, and the primary key keeps one.
CREATE TABLE auth_signing_keys (
    kid         TEXT    PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    sealed      BOOLEAN NOT NULL,
    private_key BYTEA   NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    signs_from  BIGINT  NOT NULL,
    signs_until BIGINT  NOT NULL
);
