ALTER TABLE usage_daily DROP COLUMN denied_quota_exhausted;
ALTER TABLE usage_daily DROP COLUMN denied_rate_limited;
ALTER TABLE usage_hourly DROP COLUMN denied_quota_exhausted;
ALTER TABLE usage_hourly DROP COLUMN denied_rate_limited;
DROP TABLE nodes;
DROP TABLE rate_windows;
DROP TABLE quota_leases;
DROP TABLE key_quotas;
