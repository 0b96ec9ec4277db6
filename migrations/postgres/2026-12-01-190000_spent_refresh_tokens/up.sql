-- Refresh tokens already exchanged, kept while their session lives: a second use of one means that two parties
-- hold the session (one of them stole it), and the whole session is revoked.
CREATE TABLE staff_spent_refresh (
    refresh_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES staff_sessions(id) ON DELETE CASCADE,
    spent_at TIMESTAMP NOT NULL
);
CREATE INDEX staff_spent_refresh_session ON staff_spent_refresh (session_id);
