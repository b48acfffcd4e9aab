DROP TABLE usage_daily;
DROP TABLE usage_hourly;
ALTER TABLE api_keys DROP COLUMN last_used_ip;
