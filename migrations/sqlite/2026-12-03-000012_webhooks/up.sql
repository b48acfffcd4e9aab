-- Lifecycle webhooks (issue 19). An org's endpoints, with their signing secret sealed with the
-- master key (the HMAC needs it back, unlike an API-key secret).
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL REFERENCES orgs(id),
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    -- JSON array of the event types subscribed to.
    events          TEXT NOT NULL,
    secret_sealed   BLOB NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    -- Since when every delivery has failed (NULL after a success); five days of it disables.
    failing_since   TIMESTAMP,
    disabled_at     TIMESTAMP,
    disabled_reason TEXT
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);

-- The outbox: one row per event and endpoint, written in the transaction of the change that
-- made the event, so a crash never loses one. `event_id` is the `webhook-id` of every attempt.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    -- Deliveries of one endpoint with the same ordering key go out one at a time, in id order
    -- (the key's id for key events).
    ordering_key    TEXT NOT NULL,
    -- The exact body sent: {type, timestamp, data}.
    payload         TEXT NOT NULL,
    -- pending | delivered | failed
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    last_attempt_at TIMESTAMP,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A node sending it holds it until then (a crashed node's claim runs out).
    claimed_until   TIMESTAMP,
    delivered_at    TIMESTAMP,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, ordering_key, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- The expiry warnings already produced: one row per key, expiry and threshold, so that each
-- warning is produced once, by one node, and again if the expiry moves.
CREATE TABLE expiry_warnings (
    key_id            TEXT NOT NULL,
    expires_at        TIMESTAMP NOT NULL,
    threshold_seconds BIGINT NOT NULL,
    produced_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (key_id, expires_at, threshold_seconds)
);

-- What an org does with a key whose secret is reported leaked: revoke it, or only flag it.
ALTER TABLE orgs ADD COLUMN leak_policy TEXT NOT NULL DEFAULT 'revoke';
-- When a secret of the key was last reported leaked (and the key flagged rather than revoked).
ALTER TABLE api_keys ADD COLUMN leaked_at TIMESTAMP;
