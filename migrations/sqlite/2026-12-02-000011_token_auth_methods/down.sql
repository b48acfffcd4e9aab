ALTER TABLE usage_daily DROP COLUMN tokens_federated;
ALTER TABLE usage_daily DROP COLUMN tokens_private_key_jwt;
ALTER TABLE usage_hourly DROP COLUMN tokens_federated;
ALTER TABLE usage_hourly DROP COLUMN tokens_private_key_jwt;
