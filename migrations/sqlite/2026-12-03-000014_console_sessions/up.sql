-- Console session keys (issue 20): a kind of key of its own, started by the web console for the
-- key that signed in (its parent) and bounded by it. `kind` is 'standard' or 'console_session';
-- `parent_key_id` is set exactly for console sessions. A session ends with its parent (revoked
-- in the transaction that revokes, rolls or re-scopes the parent), so the parent's sessions are
-- looked up by this index.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE api_keys ADD COLUMN parent_key_id TEXT NULL;
CREATE INDEX api_keys_parent ON api_keys (parent_key_id);

-- An action a console session made is credited to its parent key (`actor`), "via console":
-- this is the session key that made it (NULL for every other actor).
ALTER TABLE audit_events ADD COLUMN actor_session TEXT NULL;
