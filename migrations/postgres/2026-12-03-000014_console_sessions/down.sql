ALTER TABLE audit_events DROP COLUMN actor_session;
DROP INDEX api_keys_parent;
ALTER TABLE api_keys DROP COLUMN parent_key_id;
ALTER TABLE api_keys DROP COLUMN kind;
