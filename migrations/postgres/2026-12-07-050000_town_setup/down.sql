ALTER TABLE jurisdiction_statuses DROP COLUMN initial;
ALTER TABLE jurisdictions DROP COLUMN timezone;
