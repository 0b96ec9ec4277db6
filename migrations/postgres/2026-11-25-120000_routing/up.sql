-- Departments, areas, routing rules, the delivery outbox and a request history (issue #3).

CREATE TABLE departments (
    jurisdiction_id TEXT NOT NULL REFERENCES jurisdictions(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of e-mail addresses; one delivery is queued per address.
    emails_json TEXT NOT NULL,
    fallback_email TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (jurisdiction_id, code)
);

CREATE TABLE areas (
    jurisdiction_id TEXT NOT NULL REFERENCES jurisdictions(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    layer TEXT NOT NULL,
    parent_code TEXT,
    -- GeoJSON geometry (Polygon or MultiPolygon, WGS84).
    geometry TEXT NOT NULL,
    min_lon DOUBLE PRECISION NOT NULL,
    min_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (jurisdiction_id, code)
);

CREATE TABLE routing_rules (
    jurisdiction_id TEXT NOT NULL REFERENCES jurisdictions(id),
    id TEXT NOT NULL,
    service_code TEXT,
    service_group TEXT,
    area_code TEXT,
    department_code TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (jurisdiction_id, id)
);

ALTER TABLE jurisdictions ADD COLUMN near_meters DOUBLE PRECISION NOT NULL DEFAULT 100;
ALTER TABLE services ADD COLUMN share_contact BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE service_attributes ADD COLUMN label TEXT;
ALTER TABLE requests ADD COLUMN department_code TEXT;
ALTER TABLE requests ADD COLUMN routing_trace TEXT;

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    request_id BIGINT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    department_code TEXT NOT NULL,
    recipient TEXT NOT NULL,
    is_fallback BOOLEAN NOT NULL DEFAULT FALSE,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    message_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    sent_at TIMESTAMP
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_request ON deliveries (request_id);

CREATE TABLE request_events (
    id TEXT PRIMARY KEY NOT NULL,
    request_id BIGINT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX request_events_request ON request_events (request_id, at);
