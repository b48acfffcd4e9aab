-- A key's attributes beyond its identity, scopes, addresses and expiry (metadata, and the
-- settings later features add), as one JSON document: domain::key::KeyAttributes, whose
-- missing members read as their defaults, so a new attribute needs no migration.
ALTER TABLE api_keys ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
