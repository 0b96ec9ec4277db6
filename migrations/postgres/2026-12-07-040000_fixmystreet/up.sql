-- FixMyStreet in front of civic311 (issue #12). What FixMyStreet's feed shows for each status of a city's
-- vocabulary (NULL: derived from the code, else open or closed), and the FixMyStreet statuses that set it
-- (comma-separated, UPPERCASE; NULL: derived from `fms`).
ALTER TABLE jurisdiction_statuses ADD COLUMN fms TEXT;
ALTER TABLE jurisdiction_statuses ADD COLUMN from_fms TEXT;
-- Whether application keys may post citizens' comments to servicerequestupdates: 'off', 'notes' (public
-- notes only) or 'status' (their status counts like a back office's).
ALTER TABLE jurisdictions ADD COLUMN citizen_updates TEXT NOT NULL DEFAULT 'off';
-- The contact details of a citizen who commented through an app: staff only, like a reporter's, and
-- removed with them by retention and erasure.
CREATE TABLE update_contacts (
    event_id TEXT PRIMARY KEY NOT NULL REFERENCES request_events(id),
    request_id BIGINT NOT NULL REFERENCES requests(id),
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT
);
CREATE INDEX update_contacts_request ON update_contacts (request_id);
