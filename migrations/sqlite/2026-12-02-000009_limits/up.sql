-- Rate limits and quotas (issue 16). A key's limits and its quota's refill are attributes
-- (api_keys.attributes); what is counted lives here. See docs/architecture.md, "Limits".

-- A quota's credits not yet handed to any node. `generation` changes when the credits are set
-- or refilled: credits a node holds from an older generation are void.
CREATE TABLE key_quotas (
    key_id      TEXT PRIMARY KEY NOT NULL REFERENCES api_keys(id),
    remaining   BIGINT NOT NULL,
    generation  BIGINT NOT NULL DEFAULT 0,
    refilled_at TIMESTAMP NOT NULL
);

-- Credits a node holds in hand (leased from key_quotas, spent in memory), as it last reported.
CREATE TABLE quota_leases (
    key_id     TEXT NOT NULL REFERENCES api_keys(id),
    node_id    TEXT NOT NULL,
    generation BIGINT NOT NULL,
    amount     BIGINT NOT NULL,
    PRIMARY KEY (key_id, node_id)
);

-- Units of a fixed window handed to nodes so far: never more than the limit.
CREATE TABLE rate_windows (
    key_id         TEXT NOT NULL REFERENCES api_keys(id),
    name           TEXT NOT NULL,
    window_seconds BIGINT NOT NULL,
    window_start   BIGINT NOT NULL,
    granted        BIGINT NOT NULL,
    PRIMARY KEY (key_id, name, window_seconds, window_start)
);

-- Live nodes (heartbeats): how many share a limit.
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY NOT NULL,
    seen_at TIMESTAMP NOT NULL
);

ALTER TABLE usage_hourly ADD COLUMN denied_rate_limited BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN denied_quota_exhausted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN denied_rate_limited BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN denied_quota_exhausted BIGINT NOT NULL DEFAULT 0;
