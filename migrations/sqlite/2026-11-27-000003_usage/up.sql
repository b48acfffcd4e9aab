-- Usage metering: counted in memory, flushed in batches (never once per request).
-- WITHOUT ROWID: the natural key is the only b-tree an upsert has to search and write.
ALTER TABLE api_keys ADD COLUMN last_used_ip TEXT;

CREATE TABLE usage_hourly (
    key_id                    TEXT NOT NULL REFERENCES api_keys(id),
    org_id                    TEXT NOT NULL REFERENCES orgs(id),
    -- Start of the UTC hour.
    bucket                    TIMESTAMP NOT NULL,
    tokens_issued             BIGINT NOT NULL DEFAULT 0,
    requests                  BIGINT NOT NULL DEFAULT 0,
    denied_bad_secret         BIGINT NOT NULL DEFAULT 0,
    denied_revoked            BIGINT NOT NULL DEFAULT 0,
    denied_expired            BIGINT NOT NULL DEFAULT 0,
    denied_ip_not_allowed     BIGINT NOT NULL DEFAULT 0,
    denied_scope_not_allowed  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, bucket)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_org_bucket ON usage_hourly (org_id, bucket);

-- Hourly rows older than the retention window are rolled up into UTC days here.
CREATE TABLE usage_daily (
    key_id                    TEXT NOT NULL REFERENCES api_keys(id),
    org_id                    TEXT NOT NULL REFERENCES orgs(id),
    bucket                    TIMESTAMP NOT NULL,
    tokens_issued             BIGINT NOT NULL DEFAULT 0,
    requests                  BIGINT NOT NULL DEFAULT 0,
    denied_bad_secret         BIGINT NOT NULL DEFAULT 0,
    denied_revoked            BIGINT NOT NULL DEFAULT 0,
    denied_expired            BIGINT NOT NULL DEFAULT 0,
    denied_ip_not_allowed     BIGINT NOT NULL DEFAULT 0,
    denied_scope_not_allowed  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, bucket)
) WITHOUT ROWID;
CREATE INDEX usage_daily_org_bucket ON usage_daily (org_id, bucket);
