-- Which secret minted an access token: every roll counts one generation up, and a token carries
-- the generation of the secret that obtained it (in its jti), so it dies with that secret.
ALTER TABLE api_keys ADD COLUMN secret_generation INTEGER NOT NULL DEFAULT 0;
