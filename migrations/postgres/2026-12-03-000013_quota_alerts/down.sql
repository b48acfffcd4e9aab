DROP TABLE quota_alerts;
ALTER TABLE key_quotas DROP COLUMN period_credits;
