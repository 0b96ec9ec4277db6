-- Privacy by the calendar (issue #10): reporters' contact details are removed this many days after their
-- report was last changed while closed, and photos of hidden or rejected reports this many days after that
-- change. NULL: kept until erased. The licence the jurisdiction publishes its open data under.
ALTER TABLE jurisdictions ADD COLUMN contact_retention_days INTEGER;
ALTER TABLE jurisdictions ADD COLUMN media_retention_days INTEGER;
ALTER TABLE jurisdictions ADD COLUMN data_license TEXT;
-- The retention job looks for closed reports that still hold contact details, oldest change first.
CREATE INDEX requests_retention ON requests (jurisdiction_id, status, updated_at);
