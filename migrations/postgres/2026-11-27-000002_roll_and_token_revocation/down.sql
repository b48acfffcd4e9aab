DROP TABLE revoked_tokens;
DROP INDEX api_keys_previous_digest;
ALTER TABLE api_keys DROP COLUMN previous_secret_expires_at;
ALTER TABLE api_keys DROP COLUMN previous_secret_digest;
