-- Keys that never signed go (next keys, and a staged one not yet active), and a current key
-- whose staged retirement has not come keeps signing: before this migration the signing key was
-- the one not retired.
DELETE FROM signing_keys WHERE activates_at IS NULL OR activates_at > strftime('%Y-%m-%d %H:%M:%f', 'now');
UPDATE signing_keys SET retired_at = NULL, unpublish_at = NULL
    WHERE retired_at > strftime('%Y-%m-%d %H:%M:%f', 'now');
ALTER TABLE signing_keys DROP COLUMN activates_at;
