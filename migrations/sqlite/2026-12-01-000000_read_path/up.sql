-- Fast public reads (issue #7).
-- A counter that every import moves, in its own transaction: running servers reload their cached catalogue
-- (jurisdictions, services, definitions, discovery) when it changes, even when another process imported.
CREATE TABLE catalog_version (
    id INTEGER PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);

-- Every filter of the public list is backed by an index that starts with the jurisdiction and ends in the
-- list's order, so that a filter matching few or no reports never walks the whole window.
CREATE INDEX requests_list ON requests (jurisdiction_id, requested_at, id, hidden, moderation_state);
CREATE INDEX requests_list_service ON requests (jurisdiction_id, service_code, requested_at, id);
CREATE INDEX requests_list_status ON requests (jurisdiction_id, status, requested_at, id);
CREATE INDEX requests_list_updated ON requests (jurisdiction_id, updated_at, id);
