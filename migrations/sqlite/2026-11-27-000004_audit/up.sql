-- Who did what, written in the same transaction as the change it records.
CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id   TEXT NOT NULL REFERENCES orgs(id),
    at       TIMESTAMP NOT NULL,
    -- The acting key id, or `cli` for the command line.
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    ip       TEXT,
    -- JSON object: what changed (before/after for updates).
    details  TEXT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
