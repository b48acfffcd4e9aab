-- Times are naive UTC timestamps (diesel's MultiConnection has no Timestamptz), stored as
-- ISO-8601 text by SQLite; every comparison in the code is between values written the same way.
CREATE TABLE orgs (
    id              TEXT PRIMARY KEY NOT NULL,
    slug            TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMP NOT NULL,
    bootstrapped_at TIMESTAMP
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    -- nonce || ciphertext of the private key, sealed with the master key (AAD = kid).
    private_sealed  BLOB NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    -- Set when a newer key takes over signing; the key stays published until unpublish_at.
    retired_at      TIMESTAMP,
    unpublish_at    TIMESTAMP
);
CREATE INDEX signing_keys_org ON signing_keys (org_id, created_at);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    name            TEXT NOT NULL,
    -- Lower-cased name: case-insensitive search that behaves the same on both backends.
    name_folded     TEXT NOT NULL,
    secret_digest   BLOB NOT NULL UNIQUE,
    secret_hint     TEXT NOT NULL,
    -- Canonical wire forms, space-separated ("read:projects/** admin:*", "10.0.0.0/8 ::1/128").
    scopes          TEXT NOT NULL,
    allowed_cidrs   TEXT NOT NULL,
    expires_at      TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP,
    last_used_at    TIMESTAMP
);
CREATE INDEX api_keys_org_created ON api_keys (org_id, created_at DESC, id DESC);
