-- Tokens issued by how the client authenticated (issue 17): of tokens_issued, those of a
-- private_key_jwt assertion and those of a federated workload's token; a secret's are the rest.
ALTER TABLE usage_hourly ADD COLUMN tokens_private_key_jwt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN tokens_federated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN tokens_private_key_jwt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN tokens_federated BIGINT NOT NULL DEFAULT 0;
