DELETE FROM api_keys WHERE id IN ('staff-intake', 'web-page');
DROP TABLE request_scans;
DROP INDEX requests_entered_by;
ALTER TABLE requests DROP COLUMN contact_consent;
ALTER TABLE requests DROP COLUMN entered_by;
ALTER TABLE requests DROP COLUMN entered_at;
