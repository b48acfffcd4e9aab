-- Quota events (issue 19): `quota.low` and `quota.exhausted`, each at most once per period of
-- a quota (a generation of its credits), whichever node notices first.

-- The credits the current period started with (set, refilled, or raised by a top-up): what
-- "low" is a share of.
ALTER TABLE key_quotas ADD COLUMN period_credits BIGINT NOT NULL DEFAULT 0;
UPDATE key_quotas SET period_credits = remaining;

-- Which quota events a period has produced; the row is written in the event's transaction.
CREATE TABLE quota_alerts (
    key_id      TEXT NOT NULL REFERENCES api_keys(id),
    generation  BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    produced_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key_id, generation, kind)
);
