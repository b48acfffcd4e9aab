-- Secret roll: the previous secret keeps working until previous_secret_expires_at.
ALTER TABLE api_keys ADD COLUMN previous_secret_digest BLOB;
ALTER TABLE api_keys ADD COLUMN previous_secret_expires_at TIMESTAMP;
CREATE INDEX api_keys_previous_digest ON api_keys (previous_secret_digest);

-- RFC 7009 revocation of access tokens: a denylist of jtis that empties itself as they expire.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
