-- When a signing key starts signing: NULL for an org's next key, published ahead of signing and
-- awaiting promotion; in the future for a staged one. Every key stored until now signed from its
-- creation. The next key of each existing org is made by `serve` at startup (it needs the master
-- key): service::signing_keys::ensure_next_keys.
ALTER TABLE signing_keys ADD COLUMN activates_at TIMESTAMP;
UPDATE signing_keys SET activates_at = created_at;
