-- Every change that in-memory caches must forget (a key edited, revoked or rolled), in commit
-- order: each node polls it, so a change on one node reaches every node's cache within a second.
CREATE TABLE change_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL,
    subject  TEXT NOT NULL,
    at       TIMESTAMP NOT NULL
);
