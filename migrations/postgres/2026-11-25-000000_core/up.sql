-- Core GeoReport v2 tables. Times are UTC TIMESTAMPs, ids Text generated in Rust except the
-- request id, which is a short integer so that citizens can read it out on the phone.
CREATE TABLE jurisdictions (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    contact TEXT NOT NULL,
    key_service TEXT NOT NULL,
    utc_offset_minutes INTEGER NOT NULL DEFAULT 0,
    endpoint_type TEXT NOT NULL DEFAULT 'production',
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE services (
    jurisdiction_id TEXT NOT NULL REFERENCES jurisdictions(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    service_type TEXT NOT NULL,
    keywords TEXT,
    group_name TEXT,
    service_notice TEXT,
    expected_hours INTEGER,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (jurisdiction_id, code)
);

CREATE TABLE service_attributes (
    jurisdiction_id TEXT NOT NULL,
    service_code TEXT NOT NULL,
    code TEXT NOT NULL,
    variable BOOLEAN NOT NULL,
    datatype TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    datatype_description TEXT,
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    values_json TEXT NOT NULL DEFAULT '[]',
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    unit TEXT,
    PRIMARY KEY (jurisdiction_id, service_code, code),
    FOREIGN KEY (jurisdiction_id, service_code) REFERENCES services(jurisdiction_id, code) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE requests (
    id BIGSERIAL PRIMARY KEY,
    jurisdiction_id TEXT NOT NULL,
    service_code TEXT NOT NULL,
    status TEXT NOT NULL,
    detailed_status TEXT NOT NULL,
    status_notes TEXT,
    description TEXT,
    agency_responsible TEXT,
    service_notice TEXT,
    requested_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expected_at TIMESTAMP,
    address TEXT,
    address_id TEXT,
    zipcode TEXT,
    lat DOUBLE PRECISION,
    long DOUBLE PRECISION,
    token TEXT UNIQUE,
    api_key_id TEXT NOT NULL REFERENCES api_keys(id),
    channel TEXT,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    device_id_hash TEXT,
    account_id TEXT,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    moderation_state TEXT NOT NULL DEFAULT 'published',
    FOREIGN KEY (jurisdiction_id, service_code) REFERENCES services(jurisdiction_id, code)
);
CREATE INDEX requests_requested_at ON requests (requested_at DESC, id DESC);
CREATE INDEX requests_updated_at ON requests (updated_at);

CREATE TABLE request_attributes (
    request_id BIGINT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    position INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (request_id, code, position)
);

CREATE TABLE request_media (
    id TEXT PRIMARY KEY NOT NULL,
    request_id BIGINT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    external_url TEXT,
    file_name TEXT,
    content_type TEXT,
    byte_size BIGINT
);
CREATE INDEX request_media_request ON request_media (request_id, position);

CREATE TABLE idempotency_keys (
    api_key_id TEXT NOT NULL REFERENCES api_keys(id),
    idem_key TEXT NOT NULL,
    request_id BIGINT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
