-- RFC 7523 client assertions are single-use (issue 17): the `jti` of every accepted assertion,
-- per client, until the assertion expires. Shared by every node, so a replay anywhere is refused.
CREATE TABLE assertion_jtis (
    -- hex SHA-256 of the client id, a NUL and the jti (a jti may be any string).
    digest     TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX assertion_jtis_expires_at ON assertion_jtis (expires_at);
