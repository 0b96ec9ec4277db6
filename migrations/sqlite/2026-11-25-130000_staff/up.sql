-- Staff accounts, sessions, the audit log and triage fields (issue #4).

CREATE TABLE staff_users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    -- admin | dispatcher | staff
    role TEXT NOT NULL,
    -- The jurisdiction a dispatcher or staff member works for (NULL for administrators).
    jurisdiction_id TEXT,
    -- JSON array of department codes a staff member works in.
    departments_json TEXT NOT NULL DEFAULT '[]',
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE staff_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES staff_users(id) ON DELETE CASCADE,
    -- SHA-256 of the current refresh token; it changes at every renewal.
    refresh_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    client_addr TEXT
);
CREATE INDEX staff_sessions_user ON staff_sessions (user_id);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    client_addr TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);

-- A jurisdiction's own status vocabulary, each status mapped to Open311 open or closed.
CREATE TABLE jurisdiction_statuses (
    jurisdiction_id TEXT NOT NULL REFERENCES jurisdictions(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    closed BOOLEAN NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (jurisdiction_id, code)
);

ALTER TABLE api_keys ADD COLUMN may_update BOOLEAN NOT NULL DEFAULT 0;
-- The jurisdiction whose reports a back-office key may update.
ALTER TABLE api_keys ADD COLUMN jurisdiction_id TEXT;
ALTER TABLE request_events ADD COLUMN external_id TEXT;
ALTER TABLE request_events ADD COLUMN public BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE request_events ADD COLUMN status TEXT;
ALTER TABLE requests ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN duplicate_of BIGINT;

-- The areas a report lies in (from its routing), for staff filters by area.
CREATE TABLE request_areas (
    request_id BIGINT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    area_code TEXT NOT NULL,
    PRIMARY KEY (request_id, area_code)
);
CREATE INDEX request_areas_area ON request_areas (area_code);
