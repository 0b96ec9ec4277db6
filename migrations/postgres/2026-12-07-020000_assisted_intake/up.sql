-- Reports entered by staff and volunteers for people without a smartphone (issue #11). requested_at is
-- the time the citizen observed or wrote the problem; entered_at is when it was typed in (NULL: the same,
-- for reports that apps and the web page send themselves). entered_by names the staff account.
ALTER TABLE requests ADD COLUMN entered_at TIMESTAMP;
ALTER TABLE requests ADD COLUMN entered_by TEXT;
-- The reporter's answer to "may the city contact you?" (NULL: not asked, as for apps).
ALTER TABLE requests ADD COLUMN contact_consent BOOLEAN;
-- An intake clerk lists the reports they entered.
CREATE INDEX requests_entered_by ON requests (entered_by, id);

-- Scans and photos of paper forms. Kept apart from request_media so that no public answer can ever list
-- them: they carry names, signatures and phone numbers.
CREATE TABLE request_scans (
    id TEXT PRIMARY KEY NOT NULL,
    request_id BIGINT NOT NULL REFERENCES requests(id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    byte_size BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL
);
CREATE INDEX request_scans_request ON request_scans (request_id);

-- Every report names the key it came in with. Reports typed in by staff and those sent from the server's
-- own web page have keys of their own, whose hashes match no key a client can present. Revoking the web
-- page's key closes the page's form; its rate is that of each client address, not one quota for everyone.
INSERT INTO api_keys (id, name, key_hash, kind, created_at, revoked_at, may_update, jurisdiction_id, published, rate_limit)
VALUES ('staff-intake', 'civic311 staff intake', 'none:staff-intake', 'production', CURRENT_TIMESTAMP, NULL, false, NULL, false, 'off'),
       ('web-page', 'civic311 web page', 'none:web-page', 'production', CURRENT_TIMESTAMP, NULL, false, NULL, false, 'off');
