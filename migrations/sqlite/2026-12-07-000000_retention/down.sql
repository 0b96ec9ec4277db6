DROP INDEX requests_retention;
ALTER TABLE jurisdictions DROP COLUMN data_license;
ALTER TABLE jurisdictions DROP COLUMN media_retention_days;
ALTER TABLE jurisdictions DROP COLUMN contact_retention_days;
