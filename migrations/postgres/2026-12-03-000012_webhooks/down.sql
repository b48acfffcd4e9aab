ALTER TABLE api_keys DROP COLUMN leaked_at;
ALTER TABLE orgs DROP COLUMN leak_policy;
DROP TABLE expiry_warnings;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
